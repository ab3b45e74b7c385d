from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
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


def _links(*refs: str, org: str = "a") -> pa.Table:
    return pa.table(
        {
            "org": [org] * len(refs),
            "local_person_ref": list(refs),
            "person_id": [f"p{r}" for r in refs],
            "match_probability": [0.5] * len(refs),
        },
        schema=LINKS,
    )


def test_write_an_expression_and_replace_a_table_from_itself(engine: Engine) -> None:
    engine.create_table("links", LINKS)
    engine.write("links", _links("1", "2", "3"))
    t = engine.table("links")
    assert engine.write("links", t.filter(t.local_person_ref != "2")) == 2
    assert engine.count("links") == 5
    t = engine.table("links")
    # Replacing a table with a query over that same table must not lose it on the way.
    kept = t.filter(t.local_person_ref == "1")
    assert engine.write("links", kept, mode="replace") == 2
    assert sorted(engine.to_arrow("links").column("local_person_ref").to_pylist()) == ["1", "1"]
    assert engine.to_arrow("links").schema.equals(LINKS, check_metadata=False) or (
        engine.to_arrow("links").schema.names == LINKS.names
    )


def test_write_fills_missing_columns_with_null(engine: Engine) -> None:
    engine.create_table("links", LINKS)
    engine.write("links", pa.table({"org": ["a"], "local_person_ref": ["1"], "person_id": ["p"]}))
    assert engine.to_arrow("links").column("match_probability").to_pylist() == [None]


def test_a_new_table_keeps_the_types_it_was_written_with(engine: Engine) -> None:
    data = pa.table(
        {
            "at": pa.array([datetime(2025, 3, 1, 9, 30, tzinfo=UTC)], pa.timestamp("us", "UTC")),
            "day": pa.array([date(2025, 3, 1)], pa.date32()),
            "n": pa.array([3], pa.int32()),
            "tags": pa.array([["x", "y"]], pa.list_(pa.string())),
        }
    )
    assert engine.write("typed", data) == 1
    back = engine.to_arrow("typed")
    assert back.column("at").to_pylist() == data.column("at").to_pylist()
    assert back.column("day").to_pylist() == [date(2025, 3, 1)]
    assert back.column("n").to_pylist() == [3]
    assert back.column("tags").to_pylist() == [["x", "y"]]


def test_drop_removes_a_table(engine: Engine) -> None:
    engine.create_table("links", LINKS)
    engine.drop("links")
    assert not engine.has_table("links")
    engine.drop("links")  # dropping what is not there is not an error


def test_delete_keeps_rows_where_the_condition_is_null(engine: Engine) -> None:
    engine.create_table("links", LINKS)
    engine.write("links", _links("1", "2"))
    engine.write("links", pa.table({"org": ["b"], "local_person_ref": ["3"], "person_id": ["q"]}))
    assert engine.delete("links", "match_probability < 0.9") == 2
    assert engine.delete("links", "org = 'nobody'") == 0
    assert engine.to_arrow("links").column("org").to_pylist() == ["b"]


def test_stage_materialises_a_named_intermediate(engine: Engine) -> None:
    engine.register("t", pa.table({"k": ["a", "a", "b"], "x": [1, 2, 3]}))
    staged = engine.stage("s", "SELECT k, sum(x) AS total FROM t GROUP BY k")
    assert engine.has_table("s")
    out = engine.to_arrow(staged.order_by("k"))
    assert out.to_pylist() == [{"k": "a", "total": 3}, {"k": "b", "total": 3}]
    # A stage can be rebuilt under the same name, even from itself.
    engine.stage("s", "SELECT k, total * 2 AS total FROM s")
    assert sorted(engine.to_arrow("s").column("total").to_pylist()) == [6, 6]
    engine.drop_temp("s")
    engine.drop_temp("t")
    assert not engine.has_table("s") and not engine.has_table("t")


def test_to_batches_streams_the_whole_result_in_order(engine: Engine) -> None:
    engine.register("t", pa.table({"x": list(range(250))}))
    t = engine.table("t")
    batches = list(engine.to_batches(t.order_by(t.x.desc()), batch_size=100))
    assert all(b.num_rows <= 100 for b in batches)
    values = [v for b in batches for v in b.column("x").to_pylist()]
    assert values == list(range(249, -1, -1))


def test_duckdb_sql_means_the_same_on_every_engine(engine: Engine) -> None:
    engine.register(
        "t",
        pa.table(
            {
                "k": ["a", "a", "a", "b"],
                "x": [1, None, 3, 4],
                "y": [2, 1, 3, 1],
                "when": ["31/12/2025 23:30", "bad", None, "1/7/2025 10:00"],
            }
        ),
    )
    out = engine.to_arrow(
        engine.sql(
            "SELECT k, list(x ORDER BY y DESC) AS xs, string_agg(CAST(x AS VARCHAR), ',') AS s, "
            "count(*) // 2 AS half, bit_count(CAST(sum(y) AS BIGINT)) AS bits "
            "FROM t GROUP BY k ORDER BY k"
        )
    )
    # The ordered list keeps its order and its NULL.
    assert out.column("xs").to_pylist() == [[3, 1, None], [4]]
    assert out.column("half").to_pylist() == [1, 0]
    assert out.column("bits").to_pylist() == [2, 1]  # 6 = 0b110, 1 = 0b1
    parsed = engine.to_arrow(
        engine.sql(
            "SELECT k, timezone('Europe/London', TRY_STRPTIME(\"when\", '%d/%m/%Y %H:%M')) AS at "
            "FROM t ORDER BY y, k"
        )
    )
    at = [v.astimezone(UTC) if v is not None else None for v in parsed.column("at").to_pylist()]
    # 10:00 in London in July is 09:00 UTC; "bad" and NULL give NULL, not an error.
    assert datetime(2025, 7, 1, 9, 0, tzinfo=UTC) in at
    assert datetime(2025, 12, 31, 23, 30, tzinfo=UTC) in at
    assert at.count(None) == 2


def test_read_files_numbers_rows_per_file_in_file_order(engine: Engine, tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text('id;note\n1;"two\nlines"\n2;"say ""hi"""\n3;\n', encoding="utf-8")
    b = tmp_path / "b.csv"
    b.write_text("id;note;extra\n4;x;y\n", encoding="utf-8")
    t = engine.to_arrow(engine.read_files("raw", [a, b], "csv", delimiter=";"))
    rows = sorted(t.to_pylist(), key=lambda r: (r["_file"], r["_row"]))
    assert [(Path(r["_file"]).name, r["_row"], r["id"]) for r in rows] == [
        ("a.csv", 1, "1"),
        ("a.csv", 2, "2"),
        ("a.csv", 3, "3"),
        ("b.csv", 1, "4"),
    ]
    assert rows[0]["note"] == "two\nlines"
    assert rows[1]["note"] == 'say "hi"'
    assert rows[2]["extra"] is None and rows[3]["extra"] == "y"


def test_read_files_parquet_keeps_types_and_numbers_rows(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"n": pa.array([10, 20, 30], pa.int64())}), path, row_group_size=1)
    t = engine.to_arrow(engine.read_files("rawp", [path], "parquet")).sort_by("_row")
    assert t.column("_row").to_pylist() == [1, 2, 3]
    assert t.column("n").to_pylist() == [10, 20, 30]
    assert pa.types.is_integer(t.schema.field("n").type)


def test_capabilities_are_declared(engine: Engine) -> None:
    assert "files" in engine.capabilities
    assert "bit_count" in engine.capabilities


def test_a_failed_transaction_changes_nothing(engine: Engine) -> None:
    engine.create_table("links", LINKS)
    engine.write("links", _links("1", "2"))
    with pytest.raises(RuntimeError, match="halfway"), engine.transaction():
        engine.write("links", _links("3"))
        engine.delete("links", "local_person_ref = '1'")
        t = engine.table("links")
        engine.write("links", t.filter(t.local_person_ref == "3"), mode="replace")
        engine.write("other", _links("9"))
        raise RuntimeError("halfway")
    assert sorted(engine.to_arrow("links").column("local_person_ref").to_pylist()) == ["1", "2"]
    assert not engine.has_table("other")
    with engine.transaction():
        engine.write("links", _links("3"))
        engine.delete("links", "local_person_ref = '1'")
    assert sorted(engine.to_arrow("links").column("local_person_ref").to_pylist()) == ["2", "3"]


def test_distinct_filtered_lists_and_computed_intervals(engine: Engine) -> None:
    engine.register(
        "t",
        pa.table(
            {
                "k": ["a", "a", "a", "a", "b"],
                "ch": ["phone", "web", "phone", None, "web"],
                "keep": [True, True, True, True, False],
                "ts": pa.array(
                    [datetime(2025, 3, 1, 9, tzinfo=UTC)] * 5, pa.timestamp("us", tz="UTC")
                ),
                "days": [1, 2, 3, 4, 5],
            }
        ),
    )
    out = engine.to_arrow(
        engine.sql(
            "SELECT k, list(DISTINCT ch ORDER BY ch) AS chs, "
            "list(DISTINCT ch ORDER BY ch) FILTER (WHERE keep AND ch IS NOT NULL) AS kept, "
            "max(ts + INTERVAL (days * 86400) SECOND) AS latest "
            "FROM t GROUP BY k ORDER BY k"
        )
    )
    # DISTINCT keeps one NULL, sorted last; a filter that keeps no row gives NULL, not [].
    assert out.column("chs").to_pylist() == [["phone", "web", None], ["web"]]
    assert out.column("kept").to_pylist() == [["phone", "web"], None]
    latest = [v.astimezone(UTC) for v in out.column("latest").to_pylist()]
    assert latest == [datetime(2025, 3, 5, 9, tzinfo=UTC), datetime(2025, 3, 6, 9, tzinfo=UTC)]


def test_splink_runs_the_models_duckdb_sql_on_every_engine(engine: Engine) -> None:
    """Linkage's comparison levels are DuckDB SQL (list_has_any, Jaro-Winkler, bit_count
    over Bloom-filter words); bound with ``engine.condition`` they run on Splink's backend
    for the engine and put each pair in the same level."""
    import logging

    from splink import Linker

    def people(org: str, rows: list[tuple[str, str, list[str], int]]) -> pa.Table:
        return pa.table(
            {
                "org": [org] * len(rows),
                "local_person_ref": [r[0] for r in rows],
                "name": [r[1] for r in rows],
                "alias": pa.array([r[2] for r in rows], pa.list_(pa.string())),
                "bf": pa.array([r[3] for r in rows], pa.int64()),
                "block": ["x"] * len(rows),
            }
        )

    left = people("a", [("1", "jonathan", ["jon"], 0b1111), ("2", "mary", ["molly"], 0b0001)])
    right = people("b", [("9", "jonathon", ["jon"], 0b0111)])
    level = [
        ("name_l = name_r", 0.5, 0.01),
        ("jaro_winkler_similarity(name_l, name_r) >= 0.9", 0.3, 0.02),
        ("list_has_any(alias_l, alias_r)", 0.1, 0.03),
        ("CAST(bit_count(bf_l & bf_r) AS INTEGER) >= 3", 0.05, 0.04),
    ]
    model = {
        "link_type": "link_only",
        "unique_id_column_name": "local_person_ref",
        "source_dataset_column_name": "org",
        "probability_two_random_records_match": 0.5,
        "comparisons": [
            {
                "output_column_name": f"c{i}",
                "comparison_levels": [
                    {"sql_condition": engine.condition(sql), "m_probability": m,
                     "u_probability": u},
                    {"sql_condition": "ELSE", "m_probability": 1 - m, "u_probability": 1 - u},
                ],
            }
            for i, (sql, m, u) in enumerate(level)
        ],
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": engine.condition("l.block = r.block")}
        ],
        "retain_intermediate_calculation_columns": True,
    }  # fmt: skip
    api = engine.splink_api()
    dfs = [
        api.register(left, dataset_display_name="a"),
        api.register(right, dataset_display_name="b"),
    ]
    linker = Linker(dfs, model, log_level=logging.ERROR)
    pred = linker.inference.predict()
    rows = engine.to_arrow(engine.sql(f"SELECT * FROM {pred.physical_name}")).to_pylist()
    gammas = {
        r["local_person_ref_l"] if r["org_l"] == "a" else r["local_person_ref_r"]: [
            r[f"gamma_c{i}"] for i in range(len(level))
        ]
        for r in rows
    }
    # jonathan ~ jonathon: not equal, Jaro-Winkler 0.96, both "jon", 3 bits in common.
    assert gammas == {"1": [0, 1, 1, 1], "2": [0, 0, 0, 0]}


def test_quantiles_epochs_and_computed_list_places(engine: Engine) -> None:
    t0 = datetime(2025, 3, 1, 9, tzinfo=UTC)
    engine.register(
        "t",
        pa.table(
            {
                "k": ["a", "a", "a", "b"],
                "x": [1.0, 2.0, 4.0, 5.0],
                "ts": pa.array([t0] * 4, pa.timestamp("us", tz="UTC")),
                "i": [1, 2, 3, 1],
            }
        ),
    )
    out = engine.to_arrow(
        engine.sql(
            "SELECT k, quantile_cont(x, [0.5, 0.75]) AS q, quantile_cont(x, 0.5) AS med, "
            "max(epoch_us(ts)) AS us, "
            "list_transform(list(i ORDER BY i), j -> ['p', 'q'][j]) AS picked "
            "FROM t GROUP BY k ORDER BY k"
        )
    )
    assert out.column("q").to_pylist() == [[2.0, 3.0], [5.0, 5.0]]  # interpolated
    assert out.column("med").to_pylist() == [2.0, 5.0]
    assert out.column("us").to_pylist() == [int(t0.timestamp() * 1_000_000)] * 2
    # Places count from 1; past the end is NULL, not an error.
    assert out.column("picked").to_pylist() == [["p", "q", None], ["p"]]


def test_strlen_counts_bytes_on_every_engine(engine: Engine) -> None:
    engine.register("t", pa.table({"s": ["héllo ", "ab", None]}))
    out = engine.to_arrow(engine.sql("SELECT strlen(s) AS n FROM t ORDER BY n NULLS LAST"))
    assert out.column("n").to_pylist() == [2, 7, None]


def test_an_empty_table_with_no_chunks_can_be_written(engine: Engine) -> None:
    empty = pa.Table.from_batches([], schema=LINKS)
    assert engine.write("links", empty) == 0
    assert engine.count("links") == 0
    assert engine.write("links", empty, mode="replace") == 0


def test_append_a_query_by_column_name(engine: Engine) -> None:
    engine.create_table("links", LINKS)
    query = (
        "SELECT 'p' AS person_id, 'a' AS org, 0.5 AS match_probability, "
        "CAST(x AS VARCHAR) AS local_person_ref FROM (VALUES (1), (2)) AS t(x)"
    )
    assert engine.append("links", query) == 2
    assert engine.append("links", query + " WHERE x > 1") == 1
    back = engine.to_arrow("links").sort_by("local_person_ref").to_pylist()
    assert [(r["org"], r["local_person_ref"], r["person_id"]) for r in back] == [
        ("a", "1", "p"),
        ("a", "2", "p"),
        ("a", "2", "p"),
    ]


def test_filters_in_place_give_the_same_rows(engine: Engine) -> None:
    engine.register("t", pa.table({"x": ["2024-01-01", "not a date", "2024-02-30", None]}))
    query = engine.sql(
        "SELECT x, d FROM (SELECT x, TRY_STRPTIME(x, '%Y-%m-%d') AS d FROM t) "
        "WHERE d IS NOT NULL ORDER BY x"
    )
    before = engine.to_arrow(query)
    with engine.filters_in_place():
        inside = engine.to_arrow(query)
    assert inside.equals(before) and inside.column("x").to_pylist() == ["2024-01-01"]


def test_duckdb_filters_in_place_keep_the_filter_above_its_projection() -> None:
    engine = connect("duckdb")
    raw = engine.raw  # type: ignore[attr-defined]
    raw.execute("CREATE TABLE t AS SELECT 'a' AS x")
    raw.execute("SET disabled_optimizers = 'join_order'")
    sql = "SELECT * FROM (SELECT upper(x) AS u FROM t) WHERE u = 'A'"

    def plan() -> str:
        return "\n".join(r[1] for r in raw.execute(f"EXPLAIN {sql}").fetchall())

    pushed = plan()
    with engine.filters_in_place():
        kept = plan()
    # Pushed down, the filter sits on the scan and computes upper(x) itself; kept, it
    # reads the projection's column.
    assert kept.index("FILTER") < kept.index("PROJECTION")
    assert pushed != kept
    setting = raw.execute("SELECT current_setting('disabled_optimizers')").fetchone()
    assert setting == ("join_order",)
