"""What only the Spark engine has to get right: numbering rows that Spark reads in
parallel splits, and using a SparkSession it is given."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from joinedup.engine import connect

pytestmark = pytest.mark.slow


def test_rows_are_numbered_in_file_order_across_splits(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text(
        "".join(f'{{"id": "{i:05d}", "pad": "{"x" * 40}"}}\n' for i in range(3000)),
        encoding="utf-8",
    )
    with connect("spark", tmp_path / "ws") as engine:
        from joinedup.engine._spark import SparkEngine

        assert isinstance(engine, SparkEngine)
        # Small splits: the 170 kB file is read in parallel pieces, several per partition.
        engine.session.conf.set("spark.sql.files.maxPartitionBytes", "16384")
        engine.session.conf.set("spark.sql.files.openCostInBytes", "0")
        t = engine.to_arrow(engine.read_files("raw", [path], "jsonl"))
    assert t.num_rows == 3000
    pairs = sorted(zip(t.column("_row").to_pylist(), t.column("id").to_pylist(), strict=True))
    assert pairs == [(i + 1, f"{i:05d}") for i in range(3000)]


def test_an_engine_uses_a_session_it_is_given(tmp_path: Path) -> None:
    from joinedup.engine._spark import shared_session

    session = shared_session()
    with connect("spark", tmp_path, spark_session=session) as engine:
        assert engine.name == "spark"
        engine.register("t", pa.table({"x": [1]}))
        # The engine's views are its own, not the session's it was given.
        assert "t" not in [t.name for t in session.catalog.listTables()]


def test_a_private_engine_leaves_nothing_behind() -> None:
    with connect("spark") as engine:
        from joinedup.engine._spark import SparkEngine

        assert isinstance(engine, SparkEngine)
        root = engine.root
        engine.write("t", pa.table({"x": [1, 2]}))
        assert engine.count("t") == 2
    assert not root.exists()


def test_a_transaction_a_dead_process_left_is_rolled_back(tmp_path: Path) -> None:
    first = connect("spark", tmp_path)
    first.write("t", pa.table({"x": [1, 2]}))
    unfinished = first.transaction()
    unfinished.__enter__()  # the process "dies" inside the block: no exit, no close
    first.write("t", pa.table({"x": [3]}))
    first.write("t", first.table("t").filter(first.table("t").x > 1), mode="replace")
    first.write("new", pa.table({"y": [1]}))
    with connect("spark", tmp_path) as second:
        assert sorted(second.to_arrow("t").column("x").to_pylist()) == [1, 2]
        assert not second.has_table("new")


def test_csv_records_spark_cannot_parse_are_kept_apart(tmp_path: Path) -> None:
    """With ``names`` and ``rejects`` (``csv_rejects``), a record with too few or too
    many fields goes whole to the rejects view, numbered like the rest, not padded or cut
    into the rows; ``label`` names the file in ``_file``."""
    path = tmp_path / "copy.csv"
    path.write_bytes(b'a,a,\r\n1,x,y\r\n2,short\r\n3,"two\nlines",z\r\n4,x,y,extra\r\n5,,\r\n')
    with connect("spark", tmp_path / "ws") as engine:
        assert "csv_rejects" in engine.capabilities
        rows = engine.read_files(
            "rows", [path], "csv", names=["a", "a_2", "column3"], label="orig.csv", rejects="bad"
        )
        bad = engine.to_arrow("bad").sort_by("_row").to_pylist()
        t = engine.to_arrow(rows).sort_by("_row")
    assert bad == [
        {"_file": "orig.csv", "_row": 2, "line": "2,short"},
        {"_file": "orig.csv", "_row": 4, "line": "4,x,y,extra"},
    ]
    assert t.column_names == ["_file", "_row", "a", "a_2", "column3"]
    assert t.column("_row").to_pylist() == [1, 3, 5]
    assert t.column("a_2").to_pylist() == ["x", "two\nlines", None]
