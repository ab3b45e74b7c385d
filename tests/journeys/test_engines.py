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


def test_process_map_is_the_same_on_every_engine(engine: Engine) -> None:
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
    result = discover(engine, "_test_log")
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
