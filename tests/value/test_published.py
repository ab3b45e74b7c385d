"""What the value stage publishes: the matrix, counts by organisation and footnotes
under disclosure control, checked against governance's own functions."""

from __future__ import annotations

import pyarrow as pa
import pytest

from joinedup import value
from joinedup.governance import MARKER, OutputRules, disclose, tabulate
from joinedup.governance._disclosure import TOTAL
from joinedup.value._contacts import contacts_sql, release
from joinedup.value._costs import load_unit_costs
from joinedup.value._ledger import published_matrix
from joinedup.value._published import (
    FAILURES,
    _cells_sql,
    failures_sql,
    merge_notes,
    publish_by_org,
)
from joinedup.workspace import Workspace

RULES = OutputRules()


def _per_contact(ws: Workspace) -> pa.Table:
    """One row per failure contact with its person, priced, read into Python."""
    engine = ws.engine
    try:
        sql = contacts_sql(engine, load_unit_costs())
        rows = engine.to_arrow(
            engine.sql(
                f"""
                SELECT coalesce(c.caused_by_org, 'unknown') AS caused_by_org,
                       c.org AS absorbed_by_org,
                       coalesce(l.person_id, c.org || '|' || c.local_person_ref) AS person,
                       c.cost_units / 10000.0 AS cost_gbp
                FROM ({sql}) c
                LEFT JOIN links l ON l.org = c.org AND l.local_person_ref = c.local_person_ref
                WHERE c.demand_type = 'failure'
                """
            )
        )
    finally:
        release(engine)
    return rows


def test_matrix_cells_are_the_table_tabulate_makes(cause_ws: Workspace) -> None:
    engine = cause_ws.engine
    try:
        engine.stage(FAILURES, failures_sql(contacts_sql(engine, load_unit_costs())))
    finally:
        release(engine)
    try:
        ours = engine.to_arrow(engine.sql(_cells_sql(RULES.dominance.contributors)))
    finally:
        engine.drop_temp(FAILURES)
    theirs = tabulate(
        _per_contact(cause_ws),
        by=["caused_by_org", "absorbed_by_org"],
        money=["cost_gbp"],
        unit="person",
        count="contacts",
    )
    key = ("caused_by_org", "absorbed_by_org")
    want = {tuple(r[k] for k in key): r for r in theirs.to_pylist()}
    got = {tuple(r[k] for k in key): r for r in ours.to_pylist()}
    assert set(got) == set(want) and len(got) > 4
    for cell, r in got.items():
        w = want[cell]
        assert (r["contacts"], r["units"]) == (w["contacts"], w["units"]), cell
        assert r["cost_gbp"] == pytest.approx(w["cost_gbp"])
        assert r["cost_gbp_top"] == pytest.approx(w["cost_gbp_top"])
    # And the published matrix is disclose() of that table.
    safe = disclose(
        theirs,
        by=list(key),
        counts=["contacts"],
        money=["cost_gbp"],
        units="units",
        rules=RULES,
        totals=True,
    )
    led = value.ledger(cause_ws, chart=False)
    shown = {(c.caused_by_org, c.absorbed_by_org): c.contacts for c in led.published.cells}
    assert shown == {
        (r["caused_by_org"], r["absorbed_by_org"]): r["contacts"] for r in safe.table.to_pylist()
    }


def test_published_matrix_names_root_causes_and_reconciles(cause_ws: Workspace) -> None:
    led = value.ledger(cause_ws, chart=False)
    total = next(c for c in led.published.cells if c.caused_by_org == c.absorbed_by_org == TOTAL)
    assert total.cost_gbp == pytest.approx(led.failure_cost_gbp)
    failures = sum(r["failure_contacts"] for r in led.table.to_pylist())
    assert total.contacts is not None and abs(total.contacts - failures) <= 2
    causes = {name for c in led.published.cells for name in c.top_causes}
    assert "late_payment" in causes and "chase" not in causes
    # `value matrix` prices the same contacts the same way.
    again = published_matrix(cause_ws)
    assert again.cells == led.published.cells


def test_a_small_cell_is_withheld_with_its_money(cause_ws: Workspace) -> None:
    strict = OutputRules(threshold=10_000)  # every cell is under it
    led = value.ledger(cause_ws, chart=True, rules=strict)
    assert all(c.withheld and c.cost_gbp is None for c in led.published.cells)
    assert led.chart is not None
    svg = led.chart.read_text(encoding="utf-8")
    assert MARKER in svg and "·" not in svg  # no cell labelled with money and contacts


def test_counts_by_org_withhold_the_total_when_the_withheld_are_few() -> None:
    few = publish_by_org({"a": 50, "b": 3, "c": 4}, RULES)
    assert few.values == {"a": 50, "b": None, "c": None} and few.total is None
    enough = publish_by_org({"a": 50, "b": 3, "c": 40}, RULES)
    assert enough.values["b"] is None and enough.total == 95


def test_footnotes_of_several_tables_are_merged() -> None:
    a = "[c] confidential: withheld because it is a count under 10 (2 values withheld)."
    b = "[c] confidential: withheld because it is a count under 10, or a zero (1 value withheld)."
    rounded = "Counts are rounded to the nearest 5."
    assert merge_notes([a, rounded, b, rounded]) == [
        "[c] confidential: withheld because it is a count under 10, or a zero (3 values withheld).",
        rounded,
    ]
