"""One test body, every engine: the process map of a log is the same on DuckDB and Spark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from joinedup.engine import Engine
from joinedup.journeys._dfg import discover

T0 = datetime(2025, 3, 1, 8, tzinfo=UTC)
ROWS = [
    ("c1", "A", 0),
    ("c2", "A", 0),
    ("c1", "C", 60),
    ("c1", "B", 60),
    ("c3", "A", 5),
    ("c2", "B", 30),
    ("c2", "A", 30),
    ("c1", "D", 3600),
    ("c2", "B", 90),
    ("c4", "X", 7),
    ("c4", "X", 7),
    ("c4", "X", 8),
]
EXPECTED_DFG = {
    ("A", "C"): 1,
    ("C", "B"): 1,
    ("B", "D"): 1,
    ("A", "B"): 2,
    ("B", "A"): 1,
    ("X", "X"): 2,
}


# Sorted in memory (the default for a log this size) and computed in the engine's SQL.
PATHS = [pytest.param(None, id="in-memory"), pytest.param(0, id="in-engine")]


@pytest.mark.parametrize("in_memory_rows", PATHS)
def test_process_map_is_the_same_on_every_engine(
    engine: Engine, in_memory_rows: int | None
) -> None:
    engine.register(
        "_test_log",
        pa.table(
            {
                "case_id": [r[0] for r in ROWS],
                "activity": [r[1] for r in ROWS],
                "ts": pa.array(
                    [T0 + timedelta(seconds=r[2]) for r in ROWS], pa.timestamp("us", tz="UTC")
                ),
                "ord": pa.array(range(1, len(ROWS) + 1), pa.int64()),
            }
        ),
    )
    result = discover(engine, "_test_log", in_memory_rows=in_memory_rows)
    assert (result.cases, result.events) == (4, len(ROWS))
    dfg = {(r["source"], r["target"]): r for r in result.dfg.to_pylist()}
    assert {k: r["frequency"] for k, r in dfg.items()} == EXPECTED_DFG
    assert dfg[("A", "B")]["mean_seconds"] == pytest.approx(45)
    assert dfg[("A", "B")]["median_seconds"] == pytest.approx(45)
    assert dfg[("A", "B")]["p95_seconds"] == pytest.approx(58.5)
    assert {r["activity"]: r["cases"] for r in result.starts.to_pylist()} == {"A": 3, "X": 1}
    assert {r["activity"]: r["cases"] for r in result.ends.to_pylist()} == {
        "D": 1,
        "B": 1,
        "A": 1,
        "X": 1,
    }
    variants = {r["variant"]: r["cases"] for r in result.variants.to_pylist()}
    assert variants == {"A > C > B > D": 1, "A > B > A > B": 1, "A": 1, "X > X > X": 1}
    assert result.variants.column("share").to_pylist() == [0.25] * 4


def _event(
    i: int,
    org: str,
    days: float,
    *,
    person: str = "a",
    case: str | None = None,
    direction: str = "in",
    outcome: str | None = None,
    service: str = "Housing options",
    note: str | None = None,
) -> dict[str, object]:
    return {
        "event_id": f"{org}:{i}",
        "org": org,
        "service": service,
        "channel": "phone",
        "occurred_at": T0 + timedelta(days=days),
        "activity": "Enquiry" if direction == "in" else "Decision",
        "direction": direction,
        "local_person_ref": person,
        "case_ref": case,
        "note": note,
        "outcome": outcome,
        "source": "test",
    }


EVENTS_ROWS = [
    # person a: a benefits need with a knock-on call at the council, met on day 9
    _event(1, "benefits", 0, case="B1", service="Universal Credit"),
    _event(2, "benefits", 1, case="B1", direction="out", service="Universal Credit"),
    _event(3, "council", 5, case="C9", service="Customer services"),
    _event(4, "benefits", 9, case="B1", direction="out", outcome="need met"),
    # person a: a tax need the note of a caseless council call names by its service
    _event(5, "tax", 2, case="T1", service="PAYE tax code"),
    _event(6, "tax", 3, case="T1", direction="out", service="PAYE tax code"),
    _event(7, "council", 4, note="Rang about the PAYE tax code letter", service="Help"),
    # person b: caseless council contacts, split by a 57-day quiet gap; the last is open
    _event(8, "council", 0, person="b"),
    _event(9, "council", 3, person="b"),
    _event(10, "council", 60, person="b"),
]


def test_episodes_are_the_same_on_every_engine(engine: Engine) -> None:
    from joinedup.journeys import EpisodeSettings
    from joinedup.journeys._episodes import build_episodes
    from joinedup.model import EVENTS, LINKS

    events = pa.Table.from_pylist(EVENTS_ROWS, schema=EVENTS)
    refs = sorted({(e["org"], e["local_person_ref"]) for e in EVENTS_ROWS})
    links = pa.Table.from_pylist(
        [
            {"org": o, "local_person_ref": r, "person_id": f"P-{r}", "match_probability": 1.0}
            for o, r in refs
        ],
        schema=LINKS,
    )
    for name, table in (("events", events), ("links", links)):
        engine.create_table(name, table.schema, overwrite=True)
        engine.write(name, table)
    result = build_episodes(engine, EpisodeSettings(quiet_days=28))
    assert (result.episodes, result.people, result.linked_events) == (4, 2, len(EVENTS_ROWS))
    assert (result.met, result.abandoned, result.open) == (1, 2, 1)
    home = {r["event_id"]: r for r in engine.to_arrow(engine.table("episode_events")).to_pylist()}
    # the knock-on call joins the benefits need; the call naming the tax service, the tax one
    assert home["council:3"]["episode_id"] == home["benefits:1"]["episode_id"]
    assert home["council:7"]["episode_id"] == home["tax:5"]["episode_id"]
    assert home["council:8"]["episode_id"] == home["council:9"]["episode_id"]
    assert home["council:10"]["episode_id"] != home["council:8"]["episode_id"]
    assert [home[f"benefits:{i}"]["position"] for i in (1, 2)] == [1, 2]
    assert home["council:3"]["position"] == 3 and home["benefits:4"]["position"] == 4
    eps = {r["episode_id"]: r for r in engine.to_arrow(engine.table("episodes")).to_pylist()}
    benefits = eps[home["benefits:1"]["episode_id"]]
    assert benefits["need_type"] == "Universal Credit" and benefits["need_org"] == "benefits"
    assert list(benefits["orgs"]) == ["benefits", "council"]
    assert (benefits["contacts"], benefits["handoffs"]) == (2, 1)
    assert benefits["end_reason"] == "met" and benefits["elapsed_seconds"] == 9 * 86_400
    tax = eps[home["tax:5"]["episode_id"]]
    # the tax need's last event (day 4) is 56 days before the data's end (day 60)
    assert tax["end_reason"] == "abandoned" and tax["elapsed_seconds"] == 2 * 86_400
    assert (tax["contacts"], tax["handoffs"]) == (2, 1)
    quiet = eps[home["council:8"]["episode_id"]]
    assert quiet["end_reason"] == "abandoned" and quiet["elapsed_seconds"] == 3 * 86_400
    assert quiet["contacts"] == 2 and quiet["handoffs"] == 0
    last = eps[home["council:10"]["episode_id"]]
    assert last["end_reason"] == "open" and last["ended_at"] is None
    # the workspace's process map and service shapes read these tables the same way
    from joinedup.journeys import ShapeSettings
    from joinedup.journeys._map import stage_workspace_log
    from joinedup.journeys._shape import service_shapes

    log = stage_workspace_log(engine, by="org")
    org_map = discover(engine, log)
    engine.drop_temp(log)
    assert {(r["source"], r["target"]): r["frequency"] for r in org_map.dfg.to_pylist()} == {
        ("benefits", "benefits"): 1,
        ("benefits", "council"): 1,
        ("council", "benefits"): 1,
        ("tax", "tax"): 1,
        ("tax", "council"): 1,
        ("council", "council"): 1,
    }
    shapes = service_shapes(engine, ShapeSettings(min_cases=2)).to_pylist()
    got = [
        (
            r["service"],
            r["episodes"],
            r["variants"],
            round(r["entropy_bits"], 9),
            r["orgs_per_need"],
            r["concurrent_needs"],
            r["needs_per_person"],
            r["shape"],
        )
        for r in shapes
    ]
    assert got == [
        ("Housing options", 2, 2, 1.0, 1.0, 1.0, 2.0, "high-variety"),
        ("PAYE tax code", 1, 1, 0.0, 2.0, 2.0, 2.0, "too few"),
        ("Universal Credit", 1, 1, 0.0, 2.0, 2.0, 2.0, "too few"),
    ]
