from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from joinedup.engine import Engine, connect
from joinedup.errors import EngineError
from joinedup.model import LINKS


def test_unknown_engine_is_named_in_the_error() -> None:
    with pytest.raises(EngineError, match="unknown engine 'oracle'"):
        connect("oracle")


def test_create_write_and_read_back(engine: Engine) -> None:
    engine.create_table("links", LINKS)
    rows = pa.table(
        {
            "org": ["a", "b"],
            "local_person_ref": ["1", "2"],
            "person_id": ["p", "p"],
            "match_probability": [0.9, 0.8],
        },
        schema=LINKS,
    )
    assert engine.write("links", rows) == 2
    back = engine.to_arrow("links").sort_by("org")
    assert back.column("local_person_ref").to_pylist() == ["1", "2"]
    assert engine.write("links", rows.slice(0, 1), mode="replace") == 1
    assert engine.to_arrow("links").num_rows == 1


def test_write_by_name_accepts_other_column_order(engine: Engine) -> None:
    engine.create_table("links", LINKS)
    shuffled = pa.table(
        {"person_id": ["p"], "org": ["a"], "match_probability": [1.0], "local_person_ref": ["9"]}
    )
    engine.write("links", shuffled)
    assert engine.to_arrow("links").to_pylist()[0]["local_person_ref"] == "9"


def test_sql_is_transpiled_from_other_dialects(engine: Engine) -> None:
    engine.register("t", pa.table({"x": [1, 2, 3]}))
    # Spark's SQL spells integer division DIV; the engine transpiles it.
    out = engine.to_arrow(engine.sql("SELECT x DIV 2 AS h FROM t ORDER BY x", dialect="spark"))
    assert out.column("h").to_pylist() == [0, 1, 1]


def test_delete_counts_rows(engine: Engine) -> None:
    engine.create_table("links", LINKS)
    engine.write(
        "links",
        pa.table(
            {
                "org": ["a", "a", "b"],
                "local_person_ref": ["1", "2", "3"],
                "person_id": ["p", "q", "r"],
                "match_probability": [1.0, 1.0, 1.0],
            },
            schema=LINKS,
        ),
    )
    assert engine.delete("links", "org = 'a'") == 2
    assert engine.to_arrow("links").num_rows == 1


def test_read_files_gives_text_columns_and_row_numbers(engine: Engine, tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("id,when\n001,01/02/2025\n002,x\n", encoding="utf-8")
    jl = tmp_path / "a.jsonl"
    jl.write_text('{"id": 1, "n": {"k": 2}}\n{"id": 2, "n": null}\n', encoding="utf-8")
    t = engine.to_arrow(engine.read_files("raw_csv", [csv], "csv")).sort_by("_row")
    assert t.column("id").to_pylist() == ["001", "002"]  # leading zeros kept: read as text
    assert t.column("_row").to_pylist() == [1, 2]
    j = engine.to_arrow(engine.read_files("raw_jl", [jl], "jsonl")).sort_by("_row")
    assert j.schema.field("id").type == pa.string()
    assert j.column("id").to_pylist() == ["1", "2"]
    engine.drop_temp("raw_csv")
    assert not engine.has_table("raw_csv")


def test_missing_table_is_an_engine_error(engine: Engine) -> None:
    with pytest.raises(EngineError, match="no table named 'nope'"):
        engine.table("nope")
