"""Logs handed over in memory — Arrow tables, pandas frames — give pm4py's figures, in
whatever order their rows come, and the same figures as the engine's SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from joinedup import journeys
from joinedup.engine import connect
from joinedup.journeys import JourneysError, _dfg, _jit, _kernels, _native, _ordered
from tests.journeys.conftest import assert_same_as_pm4py, pm4py_reference

# Every test here runs on the C kernels and again on the Numba ones.
pytestmark = pytest.mark.usefixtures("kernels")

T0 = datetime(2025, 3, 1, 8, tzinfo=UTC)
COLS = {"case_col": "case", "activity_col": "activity", "time_col": "ts"}


def _table(rows: list[tuple[Any, str, float]]) -> pa.Table:
    return pa.table(
        {
            "case": [r[0] for r in rows],
            "activity": [r[1] for r in rows],
            "ts": pa.array(
                [T0 + timedelta(seconds=r[2]) for r in rows], pa.timestamp("us", tz="UTC")
            ),
        }
    )


def _reference(table: pa.Table) -> dict[str, Any]:
    df = table.to_pandas()
    df["ord"] = range(1, len(df) + 1)
    return pm4py_reference(df)


def _sorted(table: pa.Table) -> pa.Table:
    """The rows by case and time, ties kept in their order, as pm4py is given them."""
    order = sorted(
        range(table.num_rows),
        key=lambda i: (table.column("case")[i].as_py(), table.column("ts")[i].as_py(), i),
    )
    return table.take(order)


@st.composite
def _logs(draw: st.DrawFn) -> list[tuple[str, str, float]]:
    n = draw(st.integers(1, 60))
    return [
        (
            draw(st.sampled_from(["a", "b", "c", "d", "e", "ab", ""])),
            draw(st.sampled_from(["Apply", "Apply (late)", "Chase", "Pay", "Apply > x"])),
            draw(st.integers(0, 6)) * 900.0,  # few distinct times: many ties
        )
        for _ in range(n)
    ]


@settings(max_examples=25, deadline=None)
@given(rows=_logs(), chunk=st.integers(1, 7))
def test_tables_and_frames_match_pm4py_in_any_row_order(
    rows: list[tuple[str, str, float]], chunk: int
) -> None:
    table = _table(rows)
    ref = _reference(table)
    ordered = _sorted(table)
    pieces = pa.Table.from_batches(table.to_batches(max_chunksize=chunk))
    dictionary = table.set_column(1, "activity", table.column("activity").dictionary_encode())
    for log in (table, ordered, pieces, dictionary, table.to_pandas(), ordered.to_pandas()):
        assert_same_as_pm4py(journeys.discover_log(log, **COLS), ref)
    # the sorted table is taken as it is, without a sort
    assert _ordered.case_starts(ordered.column("case")) is not None


def test_rows_already_in_order_are_not_sorted(monkeypatch: pytest.MonkeyPatch) -> None:
    sorts: list[int] = []
    real = _kernels.order_by_case

    def counted(*args: Any) -> Any:
        sorts.append(1)
        return real(*args)

    monkeypatch.setattr(_kernels, "order_by_case", counted)
    rows = [("a", "A", 0), ("a", "B", 5), ("b", "A", 0), ("b", "A", 0), ("c", "C", 9)]
    journeys.discover_log(_table(rows), **COLS)
    assert sorts == []
    # cases together but not in text order (c10 before c9): still no sort
    rows = [("c9", "A", 0), ("c9", "B", 5), ("c10", "A", 0), ("c2", "B", 0)]
    journeys.discover_log(_table(rows), **COLS)
    assert sorts == []
    # a case that comes back, or times out of order within a case: sorted
    for rows in ([("a", "A", 0), ("b", "A", 0), ("a", "B", 5)], [("a", "A", 5), ("a", "B", 0)]):
        journeys.discover_log(_table(rows), **COLS)
        assert sorts
        sorts.clear()


def test_column_types_units_and_missing_values() -> None:
    rows = [(7, "A", 0), (7, "B", 1.5), (3, "A", 0), (7, "C", 4), (3, "B", 0.25)]
    base = _table(rows)
    text_cases = base.set_column(0, "case", pa.array(["7", "7", "3", "7", "3"]))
    expected = journeys.discover_log(text_cases, **COLS)
    micro = base.column("ts").cast(pa.int64()).to_numpy()
    kinds = {
        "int cases": base,
        "ms": base.set_column(2, "ts", pa.array(micro // 1000, pa.timestamp("ms"))),
        "ns": base.set_column(2, "ts", pa.array(micro * 1000, pa.timestamp("ns", tz="UTC"))),
        "large text": base.set_column(
            1, "activity", base.column("activity").cast(pa.large_string())
        ),
    }
    for name, table in kinds.items():
        got = journeys.discover_log(table, **COLS)
        assert got.dfg.equals(expected.dfg), name
        assert got.variants.equals(expected.variants), name
    # whole seconds: 1.5 s and 0.25 s become 1 and 0
    secs = base.set_column(2, "ts", pa.array(micro // 1_000_000, pa.timestamp("s")))
    got = journeys.discover_log(secs, **COLS).dfg.to_pylist()
    assert [(r["source"], r["target"], r["mean_seconds"]) for r in got] == [
        ("A", "B", 0.5),
        ("B", "C", 3.0),
    ]
    # dates: whole days
    days = pa.table(
        {
            "case": ["a", "a", "a"],
            "activity": ["A", "B", "C"],
            "ts": pa.array([0, 2, 3], pa.date32()),
        }
    )
    got = journeys.discover_log(days, **COLS).dfg.to_pylist()
    assert [r["mean_seconds"] for r in got] == [2 * 86400.0, 86400.0]
    # rows lacking a case, an activity or a time are left out and counted
    gaps = pa.table(
        {
            "case": ["a", None, "a", "a", "b"],
            "activity": ["A", "A", None, "B", "A"],
            "ts": pa.array([0, 1, 2, 3, None], pa.timestamp("s", tz="UTC")),
        }
    )
    got = journeys.discover_log(gaps, **COLS)
    assert got.skipped == 3 and got.events == 2 and got.cases == 1
    assert got.dfg.to_pylist()[0]["mean_seconds"] == 3.0


def test_long_activity_names_differing_inside_stay_apart() -> None:
    # Same length, same first and last 8 bytes: the lookup key is equal, the names not.
    names = ["Application received by post", "Application RECEIVED by post", "Short", ""]
    rows = [(f"c{i % 5}", names[i % 4], float(i)) for i in range(40)]
    table = _table(rows)
    pieces = pa.Table.from_batches(table.to_batches(max_chunksize=3))
    ref = _reference(table)
    for log in (table, pieces):
        got = journeys.discover_log(log, **COLS)
        assert_same_as_pm4py(got, ref)
    codes, known = _ordered.activity_codes(pieces.column("activity"))
    assert known.to_pylist() == names and codes.tolist() == [i % 4 for i in range(40)]


def test_times_as_text_go_through_the_engine(tmp_path: Path) -> None:
    table = pa.table(
        {
            "case": ["a", "a", "b"],
            "activity": ["A", "B", "A"],
            "ts": ["2025-01-01T10:00:00+01:00", "2025-01-01T09:30:00Z", "2025-01-01T12:00:00"],
        }
    )
    got = journeys.discover_log(table, **COLS)
    # 10:00+01:00 is 09:00 UTC, so A comes before B by half an hour
    assert got.dfg.to_pylist()[0]["mean_seconds"] == 1800
    bad = table.set_column(
        2, "ts", pa.array(["2025-01-01T10:00:00", "soon", "2025-01-02T10:00:00"])
    )
    with pytest.raises(JourneysError, match=r"the Table: row 2, column 'ts'.*'soon'"):
        journeys.discover_log(bad, **COLS)
    # a Parquet file whose times are text: the message names the file
    path = tmp_path / "log.parquet"
    pq.write_table(bad, path)
    with pytest.raises(JourneysError, match=r"log.parquet: row 2, column 'ts'.*'soon'"):
        journeys.discover_log(path, **COLS)


def test_unusable_tables_are_clear_errors() -> None:
    with pytest.raises(JourneysError, match=r"no column 'when' \(--time-col\); the log has: "):
        journeys.discover_log(_table([("a", "A", 0)]), **{**COLS, "time_col": "when"})
    with pytest.raises(JourneysError, match="cannot read a log from a list"):
        journeys.discover_log([1, 2], **COLS)


def test_graph_or_variants_alone() -> None:
    table = _table([("a", "A", 0), ("a", "B", 5), ("b", "A", 0)])
    both = journeys.discover_log(table, **COLS)
    graph = journeys.discover_log(table, variants=False, **COLS)
    variants = journeys.discover_log(table, graph=False, **COLS)
    assert graph.dfg.equals(both.dfg) and graph.variants.num_rows == 0
    assert variants.variants.equals(both.variants) and variants.dfg.num_rows == 0
    assert variants.starts.num_rows == 0 and (variants.cases, variants.events) == (2, 3)
    with connect("duckdb") as engine:
        engine.register(
            "_log",
            table.rename_columns(["case_id", "activity", "ts"]).append_column(
                "ord", pa.array([1, 2, 3], pa.int64())
            ),
        )
        sql = _dfg.discover(engine, "_log", graph=False, in_memory_rows=0)
    assert sql.variants.equals(both.variants) and sql.dfg.num_rows == 0
    assert (sql.cases, sql.events) == (2, 3)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), many=st.booleans())
def test_long_cases_and_many_activities_agree_with_the_engine(seed: int, many: bool) -> None:
    # Cases of up to 300 events in shuffled order (the merge sort within a case), and
    # 1,500 activities (pairs numbered by a sort instead of a k × k table).
    rng = np.random.default_rng(seed)
    n = 2_000
    k = 1_500 if many else 12
    case = rng.integers(0, 8, n)
    table = pa.table(
        {
            "case_id": pa.array([f"c{c}" for c in case]),
            "activity": pa.array([f"act {a}" for a in rng.integers(0, k, n)]),
            "ts": pa.array(rng.integers(0, 50, n) * 60_000_000, pa.timestamp("us", tz="UTC")),
            "ord": pa.array(rng.permutation(n), pa.int64()),
        }
    )
    with connect("duckdb") as engine:
        engine.register("_long", table)
        fast = _dfg.discover(engine, "_long")
        sql = _dfg.discover(engine, "_long", in_memory_rows=0)
    assert fast.variants.equals(sql.variants)
    assert fast.starts.equals(sql.starts) and fast.ends.equals(sql.ends)
    assert fast.dfg.select(["source", "target", "frequency"]).equals(
        sql.dfg.select(["source", "target", "frequency"])
    )
    for col in ("mean_seconds", "median_seconds", "p95_seconds"):
        assert fast.dfg.column(col).to_pylist() == pytest.approx(
            sql.dfg.column(col).to_pylist(), rel=1e-12
        )


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.one_of(st.integers(0, 5), st.integers(0, 2**62)), min_size=1, max_size=400),
    q=st.sampled_from([0.5, 0.95, 0.0, 1.0, 0.3]),
)
def test_quantiles_without_sorting_equal_numpy(kernels: str, values: list[int], q: float) -> None:
    run = np.array(values, np.int64)
    got = (_native if kernels == "native" else _jit)._quantile(
        run.copy(), q, int(run.min()), int(run.max()), np.empty(len(run), np.int64)
    )
    assert got == pytest.approx(np.percentile(run.astype(np.float64), q * 100), rel=1e-12)
    ordered = np.sort(run)
    h = (len(run) - 1) * q
    lo = int(np.floor(h))
    below, above = float(ordered[lo]), float(ordered[min(lo + 1, len(run) - 1)])
    assert got == below + (above - below) * (h - lo)  # the very float operations


def test_variant_order_follows_the_joined_names() -> None:
    # "Apply" begins "Apply (late)": ranks of names would sort "Apply > X" after
    # "Apply (late)", as text it comes before; the order must be the text's.
    for names in (["Apply", "Apply (late)", "X"], ["B", "A", "C"]):
        rows = [
            (f"c{i}", name, float(t))
            for i, seq in enumerate([[0, 2], [1], [0], [2, 0], [1, 2], [0, 1]])
            for t, name in enumerate(names[s] for s in seq)
        ]
        got = journeys.discover_log(_table(rows), **COLS).variants.column("variant").to_pylist()
        assert got == sorted(got, key=lambda v: v.encode())
    frame = pd.DataFrame({"case": ["a"], "activity": ["A"], "ts": [pd.Timestamp(T0)]})
    assert journeys.discover_log(frame, **COLS).variants.column("variant").to_pylist() == ["A"]
