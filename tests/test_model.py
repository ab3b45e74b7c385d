from __future__ import annotations

import pyarrow as pa

from joinedup import model


def test_taxonomy_has_value_and_failure_categories() -> None:
    codes = {c.code: c.demand_type for c in model.TAXONOMY}
    assert len(codes) == len(model.TAXONOMY), "category codes must be unique"
    assert codes["service"] == model.DemandType.VALUE
    assert codes["chase"] == model.DemandType.FAILURE
    assert {c for c, t in codes.items() if t == model.DemandType.VALUE} == {
        "service",
        "info",
        "change",
        "help",
    }


def test_demand_table_carries_cause_and_receiver() -> None:
    assert {"caused_by_org", "received_by_org", "decided_by", "confidence"} <= set(
        model.DEMAND.names
    )


def test_events_timestamps_are_utc() -> None:
    ts = model.EVENTS.field("occurred_at").type
    assert pa.types.is_timestamp(ts) and ts.tz == "UTC"


def test_standard_tables_are_named_once() -> None:
    assert set(model.STANDARD_TABLES) >= {
        "events",
        "people",
        "links",
        "episodes",
        "demand",
        "unit_costs",
        "quarantine",
        "runs",
    }
    for schema in model.STANDARD_TABLES.values():
        assert model.empty_table(schema).num_rows == 0
