"""Directly-follows graphs, durations, start/end activities and variants equal pm4py's."""

from __future__ import annotations

import contextlib
import io
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from joinedup import journeys
from joinedup.engine import connect
from joinedup.journeys import JourneysError, _dfg, _ordered
from joinedup.journeys._map import stage_workspace_log
from joinedup.journeys._xes import read_xes, write_xes
from joinedup.workspace import Workspace
from tests.journeys.conftest import assert_same_as_pm4py, pm4py_reference

# Every test here runs on the C kernels and again on the Numba ones.
pytestmark = pytest.mark.usefixtures("kernels")

# Copies of ../shared/data/real-logs, kept with the tests so CI has them (see the
# README there for their sources and the citations they require).
REAL = Path(__file__).resolve().parents[1] / "data" / "real-logs"
T0 = datetime(2025, 3, 1, 8, tzinfo=UTC)

# Ties (c1: B and C at the same time, in file order C then B), a single-event case (c3),
# revisits (c2: A > B > A > B) and rows of different cases interleaved.
TRICKY = [
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


@pytest.fixture(params=["in-memory", "in-engine"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each log processed both ways: sorted in memory, and in the engine's SQL."""
    if request.param == "in-engine":
        monkeypatch.setattr(_dfg, "IN_MEMORY_ROWS", 0)
    return str(request.param)


def _frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case": [r[0] for r in rows],
            "activity": [r[1] for r in rows],
            "ts": pd.to_datetime([T0 + timedelta(seconds=r[2]) for r in rows], utc=True),
            "ord": range(1, len(rows) + 1),
        }
    )


def _write(df: pd.DataFrame, path: Path) -> Path:
    table = pa.table(
        {
            "case": df["case"].tolist(),
            "activity": df["activity"].tolist(),
            "ts": pa.array(df["ts"].dt.to_pydatetime().tolist(), pa.timestamp("us", tz="UTC")),
        }
    )
    if path.suffix == ".csv":
        text = table.set_column(
            2, "ts", pa.array([t.isoformat() for t in table.column("ts").to_pylist()])
        )
        pacsv.write_csv(text, path)
    elif path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        write_xes(
            path,
            table.to_batches(),
            case_col="case",
            trace_cols={"concept:name": "case"},
            event_cols={"concept:name": "activity", "time:timestamp": "ts"},
        )
    return path


def _discover(path: Path) -> journeys.ProcessMap:
    if path.suffix == ".xes":
        return journeys.discover_log(
            path,
            case_col="case:concept:name",
            activity_col="concept:name",
            time_col="time:timestamp",
        )
    return journeys.discover_log(path, case_col="case", activity_col="activity", time_col="ts")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xes"])
def test_ties_single_events_and_revisits_match_pm4py(
    tmp_path: Path, suffix: str, path: str
) -> None:
    df = _frame(TRICKY)
    result = _discover(_write(df, tmp_path / f"log{suffix}"))
    if suffix == ".xes":
        # XES groups events by trace, so the file order is case by case; the tie-break
        # (file order) is then the order within each trace.
        df = df.sort_values(["case"], kind="stable").reset_index(drop=True)
        df["ord"] = range(1, len(df) + 1)
    assert_same_as_pm4py(result, pm4py_reference(df))
    # the tie-break is file order: C was written before B at the same instant
    edges = {(r["source"], r["target"]) for r in result.dfg.to_pylist()}
    assert ("A", "C") in edges and ("C", "B") in edges and ("B", "C") not in edges
    assert result.cases == 4 and result.events == len(TRICKY)
    starts = {r["activity"]: r["cases"] for r in result.starts.to_pylist()}
    assert starts == {"A": 3, "X": 1}


def test_durations_and_percentiles_by_hand(tmp_path: Path) -> None:
    rows = [
        ("k", "A", 0),
        ("k", "B", 10),
        ("j", "A", 0),
        ("j", "B", 30),
        ("i", "A", 0),
        ("i", "B", 100),
    ]
    result = _discover(_write(_frame(rows), tmp_path / "log.csv"))
    (edge,) = result.dfg.to_pylist()
    assert edge["frequency"] == 3
    assert edge["mean_seconds"] == pytest.approx(140 / 3)
    assert edge["median_seconds"] == 30
    assert edge["p95_seconds"] == pytest.approx(30 + 0.9 * 70)  # linear interpolation
    (variant,) = result.variants.to_pylist()
    assert variant["variant"] == "A > B" and variant["cases"] == 3 and variant["share"] == 1


@st.composite
def _logs(draw: st.DrawFn) -> list[tuple[str, str, float]]:
    n = draw(st.integers(1, 40))
    return [
        (
            draw(st.sampled_from(["a", "b", "c", "d", "e"])),
            draw(st.sampled_from(["Apply", "Chase", "Decide", "Pay", "Apply > x"])),
            draw(st.integers(0, 6)) * 900.0,  # few distinct times: many ties
        )
        for _ in range(n)
    ]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=_logs())
def test_random_logs_match_pm4py(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str, float]], path: str
) -> None:
    df = _frame(rows)
    log = _write(df, tmp_path_factory.mktemp("log") / "log.parquet")
    assert_same_as_pm4py(_discover(log), pm4py_reference(df))


# Times to the microsecond from year 1 to 9999, so neither the events nor the gaps fit the
# packed sort keys and a pair's summed gaps can pass 2^63 microseconds; the tie-break in
# any order, repeated within a case.
_WIDE_TIMES = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(2025, 3, 1, 8, tzinfo=UTC),
    datetime(2025, 3, 1, 8, 0, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
]


@st.composite
def _wide_logs(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 60))
    rows = [
        (
            draw(st.sampled_from(["a", "b", "c"])),
            draw(st.sampled_from(["A", "B", "C", "D", "E", "F"])),
            draw(st.sampled_from(_WIDE_TIMES)),
            draw(st.integers(-(2**40), 2**40)),
        )
        for _ in range(n)
    ]
    # 40 cases of A then B, 9999 years apart: 40 such gaps sum past 2^63 microseconds
    rows += [(f"w{i}", "A", _WIDE_TIMES[0], 0) for i in range(draw(st.sampled_from([0, 40])))]
    rows += [(f"w{i}", "B", _WIDE_TIMES[-1], 1) for i in range(len(rows) - n)]
    return pa.table(
        {
            "case_id": pa.array([r[0] for r in rows], pa.string()),
            "activity": pa.array([r[1] for r in rows], pa.string()),
            "ts": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
            "ord": pa.array([r[3] for r in rows], pa.int64()),
        }
    )


@settings(max_examples=40, deadline=None)
@given(table=_wide_logs())
def test_in_memory_and_in_engine_agree(table: pa.Table) -> None:
    with connect("duckdb") as engine:
        engine.register("_wide", table)
        fast = _dfg.discover(engine, "_wide")
        sql = _dfg.discover(engine, "_wide", in_memory_rows=0)
    if table.num_rows:
        # an unknown tie (same case, time and tie-break) would make the order arbitrary
        keys = list(
            zip(*(table.column(c).to_pylist() for c in ("case_id", "ts", "ord")), strict=True)
        )
        if len(set(keys)) < len(keys):
            return
    assert (
        (fast.cases, fast.events)
        == (sql.cases, sql.events)
        == (
            len(set(table.column("case_id").to_pylist())),
            table.num_rows,
        )
    )
    assert fast.starts.equals(sql.starts) and fast.ends.equals(sql.ends)
    assert fast.variants.equals(sql.variants)
    assert fast.dfg.schema == sql.dfg.schema
    assert fast.dfg.select(["source", "target", "frequency"]).equals(
        sql.dfg.select(["source", "target", "frequency"])
    )
    for col in ("mean_seconds", "median_seconds", "p95_seconds"):
        assert fast.dfg.column(col).to_pylist() == pytest.approx(
            sql.dfg.column(col).to_pylist(), rel=1e-12
        )


def test_variants_are_exact_whatever_the_hash() -> None:
    # A hash masked to nothing sends every case to one value: the check against each
    # group's first case must still split the cases by their exact sequences.
    seqs = [[0, 1], [1, 0], [0, 1], [0], [0, 1, 1], [1, 0], [0]]
    first = np.cumsum([0] + [len(q) for q in seqs[:-1]])
    log = _ordered.Ordered(
        codes=np.array([c for q in seqs for c in q], np.int32),
        us=np.arange(sum(len(q) for q in seqs), dtype=np.int64),
        first=first.astype(np.int64),
        names=pa.array(["A", "B"]),
    )
    for mask in (2**64 - 1, 0, 1):
        rep, cases = _ordered.variants(log, mask=mask)
        lists, joined = _ordered.activities(log, rep, " > ")
        got = dict(zip(map(tuple, lists.to_pylist()), cases.tolist(), strict=True))
        assert got == {("A", "B"): 2, ("B", "A"): 2, ("A",): 2, ("A", "B", "B"): 1}
        assert joined.to_pylist() == [" > ".join(q) for q in lists.to_pylist()]


@pytest.mark.parametrize("by", ["activity", "org", "channel"])
def test_workspace_maps_match_pm4py(linked_workspace_dir: Path, by: str) -> None:
    with Workspace(linked_workspace_dir, create=False) as ws:
        result = journeys.process_map(ws, by=by)
        log = stage_workspace_log(ws.engine, by=by)
        table = ws.engine.to_arrow(log)
        ws.engine.drop_temp(log)
    df = table.rename_columns(["case", "activity", "ts", "ord"]).to_pandas()
    assert result.cases == ws_episodes(linked_workspace_dir)
    assert_same_as_pm4py(result, pm4py_reference(df))
    if by == "org":
        # hand-offs between organisations show as edges between different orgs
        assert any(r["source"] != r["target"] for r in result.dfg.to_pylist())


def ws_episodes(path: Path) -> int:
    with Workspace(path, create=False) as ws:
        return ws.count("episodes")


def test_a_service_map_covers_only_that_service(linked_workspace_dir: Path) -> None:
    with Workspace(linked_workspace_dir, create=False) as ws:
        eps = ws.read("episodes").to_pylist()
        service = max({e["need_type"] for e in eps}, key=[e["need_type"] for e in eps].count)
        result = journeys.process_map(ws, service=service)
        assert result.cases == sum(e["need_type"] == service for e in eps)
        with pytest.raises(JourneysError, match="no episodes of service"):
            journeys.process_map(ws, service="No such service")
        with pytest.raises(JourneysError, match="unknown --by"):
            journeys.process_map(ws, by="colour")


@pytest.mark.parametrize(
    ("name", "cases"), [("receipt.xes.gz", 1434), ("roadtraffic100traces.xes", 100)]
)
def test_real_logs_match_pm4py(name: str, cases: int) -> None:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pm4py suggests an optional faster reader
        import pm4py

        df = pm4py.read_xes(str(path))
    ref_df = pd.DataFrame(
        {
            "case": df["case:concept:name"].astype(str),
            "activity": df["concept:name"].astype(str),
            "ts": pd.to_datetime(df["time:timestamp"], utc=True),
            "ord": range(1, len(df) + 1),
        }
    )
    result = journeys.discover_log(
        path,
        case_col="case:concept:name",
        activity_col="concept:name",
        time_col="time:timestamp",
    )
    assert result.cases == cases
    assert_same_as_pm4py(result, pm4py_reference(ref_df))


def test_xes_reader_keeps_trace_attributes_and_types() -> None:
    path = REAL / "roadtraffic100traces.xes"
    if not path.exists():
        pytest.skip(f"{path} not present")
    table = read_xes(path)
    assert table.num_rows == 390
    assert "case:concept:name" in table.column_names
    assert pa.types.is_timestamp(table.schema.field("time:timestamp").type)
    assert table.column("_row").to_pylist() == list(range(1, 391))


def test_unreadable_inputs_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "log.csv"
    bad.write_text("case,activity,ts\na,A,2025-01-01T10:00:00\na,B,yesterday\n")
    with pytest.raises(JourneysError, match=r"row 2, column 'ts'.*'yesterday'"):
        journeys.discover_log(bad, case_col="case", activity_col="activity", time_col="ts")
    with pytest.raises(JourneysError, match="no column 'when'"):
        journeys.discover_log(bad, case_col="case", activity_col="activity", time_col="when")
    with pytest.raises(JourneysError, match="no such log file"):
        journeys.discover_log(tmp_path / "nope.csv", case_col="c", activity_col="a", time_col="t")
    odd = tmp_path / "log.txt"
    odd.write_text("x")
    with pytest.raises(JourneysError, match="format"):
        journeys.discover_log(odd, case_col="c", activity_col="a", time_col="t")


def test_time_format_offsets_and_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "case,activity,ts\n"
        "a,A,01/02/2025 10:00\n"
        "a,B,01/02/2025 11:30\n"
        ",B,01/02/2025 12:00\n"
        "b,,01/02/2025 12:00\n"
    )
    result = journeys.discover_log(
        path,
        case_col="case",
        activity_col="activity",
        time_col="ts",
        time_format="%d/%m/%Y %H:%M",
    )
    assert result.skipped == 2
    assert result.dfg.to_pylist()[0]["mean_seconds"] == 5400
    path.write_text("case,activity,ts\na,A,2025-01-01T10:00:00+01:00\na,B,2025-01-01T09:30:00Z\n")
    result = journeys.discover_log(path, case_col="case", activity_col="activity", time_col="ts")
    # 10:00+01:00 is 09:00 UTC, so A comes before B by half an hour
    assert result.dfg.to_pylist()[0]["mean_seconds"] == 1800


def test_a_log_with_missing_values_is_left_to_the_engine() -> None:
    # Staged logs have none (rows lacking a case, activity or time are left out), but a
    # table handed to discover directly may: the SQL path alone says what they mean.
    table = pa.table(
        {
            "case_id": ["a", "a", "a", "b"],
            "activity": ["A", None, "B", "A"],
            "ts": pa.array([T0, T0, T0 + timedelta(seconds=5), T0], pa.timestamp("us", tz="UTC")),
            "ord": pa.array([1, 2, 3, 4], pa.int64()),
        }
    )
    with connect("duckdb") as engine:
        engine.register("_gaps", table)
        assert _dfg.read_ordered(engine, "_gaps") is None
        default = _dfg.discover(engine, "_gaps")
        sql = _dfg.discover(engine, "_gaps", in_memory_rows=0)
    assert default.dfg.equals(sql.dfg) and default.variants.equals(sql.variants)
    assert default.dfg.to_pylist()[0]["source"] == "A"
