"""What-if: reduce=0 changes nothing; reduce=1 removes the attributed contacts and their
knock-ons, exactly; the interval reflects classification confidence."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from joinedup import value
from joinedup.value import Fix, FixError
from joinedup.workspace import Workspace


def _truth_removed(truth: pa.Table, org: str, failure: str) -> Counter[str]:
    """Contacts per receiving org in the needs where ``org`` failed with ``failure``."""
    rows = truth.to_pylist()
    return Counter(
        r["org"]
        for r in rows
        if r["direction"] == "in" and r["caused_by_org"] == org and r["failure"] == failure
    )


def test_fix_parsing() -> None:
    f = Fix.parse("org=benefits, cause=late_payment, reduce=0.8, cost=25000")
    assert (f.org, f.cause, f.reduce, f.cost_gbp) == ("benefits", "late_payment", 0.8, 25000)
    assert Fix.parse(str(f)) == f
    for bad, msg in [
        ("org=benefits", "cause= is required"),
        ("org=benefits,cause=x,reduce=1.5", "between 0 and 1"),
        ("org=benefits,cause=x,colour=red", "unknown key 'colour'"),
        ("org=benefits,cause", "not key=value"),
        ("org=benefits,cause=x,reduce=lots", "must be numbers"),
    ]:
        with pytest.raises(FixError, match=msg):
            Fix.parse(bad)


def test_reduce_zero_changes_nothing(cause_ws: Workspace) -> None:
    res = value.what_if(cause_ws, "org=benefits,cause=late_payment,reduce=0", replicates=200)
    assert res.total_saving_gbp == 0
    for o in res.orgs:
        assert o.saving_gbp == 0 and o.contacts_removed == 0
        assert o.saving_low_gbp == 0 and o.saving_high_gbp == 0
        assert o.cost_after_gbp == o.cost_gbp
    ledger = value.ledger(cause_ws, chart=False)
    by_org: Counter[str] = Counter()
    for r in ledger.table.to_pylist():
        by_org[r["org"]] += round(r["cost_gbp"] * 10_000)
    assert {o.org: round(o.cost_after_gbp * 10_000) for o in res.orgs} == dict(by_org)


def test_reduce_one_removes_exactly_the_attributed_and_knock_ons(
    cause_ws: Workspace, truth: pa.Table
) -> None:
    res = value.what_if(cause_ws, "org=benefits,cause=late_payment,reduce=1", replicates=0)
    expect = _truth_removed(truth, "benefits", "late_payment")
    got = {o.org: o.attributed_contacts for o in res.orgs if o.attributed_contacts}
    assert got == dict(expect)
    assert expect["council"] > 0, "late payments at benefits cause contacts at the council"
    for o in res.orgs:
        assert o.contacts_removed == o.attributed_contacts
    assert (
        res.knock_on_contacts == expect["council"] and res.contacts_at_fixer == expect["benefits"]
    )
    # The saving is the cost of exactly those contacts.
    ids = [
        r["event_id"]
        for r in truth.to_pylist()
        if r["direction"] == "in"
        and r["caused_by_org"] == "benefits"
        and r["failure"] == "late_payment"
    ]
    costs = value.load_unit_costs()
    ev = cause_ws.engine.to_arrow(
        cause_ws.engine.sql("SELECT event_id, org, channel FROM events WHERE direction = 'in'")
    ).to_pylist()
    by_id = {e["event_id"]: e for e in ev}
    expect_units: Counter[str] = Counter()
    for i in ids:
        e = by_id[i]
        entry = costs.lookup(e["org"], e["channel"])
        assert entry is not None
        expect_units[e["org"]] += round(entry.cost_gbp * 10_000)
    assert {o.org: round(o.saving_gbp * 10_000) for o in res.orgs if o.saving_gbp} == dict(
        expect_units
    )


def test_knock_ons_found_through_episodes_without_cause_labels(
    value_ws: Workspace, truth: pa.Table
) -> None:
    # Without the cause column, a fix names a category; the episode carries the
    # knock-ons: every failure caused by benefits in a need where benefits was chased.
    res = value.what_if(value_ws, "org=benefits,cause=chase,reduce=1", replicates=0)
    rows = truth.to_pylist()
    hit = {
        r["need_id"]
        for r in rows
        if r["direction"] == "in" and r["caused_by_org"] == "benefits" and r["category"] == "chase"
    }
    expect = Counter(
        r["org"]
        for r in rows
        if r["direction"] == "in" and r["caused_by_org"] == "benefits" and r["need_id"] in hit
    )
    got = {o.org: o.attributed_contacts for o in res.orgs if o.attributed_contacts}
    assert got == dict(expect)
    assert res.knock_ons_via == "episodes" and res.found_via_episodes > 0
    assert res.knock_on_contacts == sum(n for org, n in expect.items() if org != "benefits")


def test_without_episodes_only_labelled_contacts_go(bare_ws: Workspace, truth: pa.Table) -> None:
    res = value.what_if(bare_ws, "org=benefits,cause=chase,reduce=1", replicates=0)
    expect = Counter(
        r["org"]
        for r in truth.to_pylist()
        if r["direction"] == "in" and r["caused_by_org"] == "benefits" and r["category"] == "chase"
    )
    assert {o.org: o.attributed_contacts for o in res.orgs if o.attributed_contacts} == dict(expect)
    assert res.found_via_episodes == 0 and res.knock_ons_via == "cause labels only"


def test_interval_reflects_confidence(cause_ws: Workspace) -> None:
    res = value.what_if(
        cause_ws, "org=benefits,cause=late_payment,reduce=0.8", replicates=500, seed=3
    )
    assert res.total_saving_gbp > 0
    for o in res.orgs:
        if o.saving_gbp:
            assert o.saving_low_gbp < o.saving_high_gbp
            # Confidence below 1 can only lose contacts in expectation, so the interval
            # sits at or below the saving as classified, but not far below.
            assert o.saving_low_gbp < o.saving_gbp
            assert o.saving_high_gbp > 0.5 * o.saving_gbp
    assert res.total_low_gbp < res.total_saving_gbp
    again = value.what_if(
        cause_ws, "org=benefits,cause=late_payment,reduce=0.8", replicates=500, seed=3
    )
    assert again.orgs == res.orgs


def test_certain_classification_without_episodes_has_no_spread(bare_ws: Workspace) -> None:
    demand = bare_ws.read("demand")
    certain = demand.set_column(
        demand.schema.get_field_index("confidence"),
        "confidence",
        pa.array([1.0] * demand.num_rows, pa.float64()),
    )
    bare_ws.engine.write("demand", certain, mode="replace")
    res = value.what_if(bare_ws, "org=tax,cause=error,reduce=1", replicates=300, seed=1)
    for o in res.orgs:
        if o.saving_gbp:
            # Resampling single contacts still varies the total; confidence 1 keeps all,
            # so the interval brackets the saving as classified.
            assert o.saving_low_gbp <= o.saving_gbp <= o.saving_high_gbp


def test_fix_that_matches_nothing_names_the_causes(cause_ws: Workspace) -> None:
    with pytest.raises(FixError, match=r"causes recorded for benefits: .*late_payment"):
        value.what_if(cause_ws, "org=benefits,cause=no_such_cause", replicates=0)
