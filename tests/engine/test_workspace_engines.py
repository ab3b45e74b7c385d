"""The workspace checks, on every engine: a Spark workspace is Parquet folders that
survive a restart."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from joinedup.model import LINKS, STANDARD_TABLES
from joinedup.workspace import Workspace
from tests.conftest import ENGINES


@pytest.fixture(params=ENGINES)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_new_workspace_has_every_standard_table(kind: str, tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws", engine=kind) as ws:
        assert ws.engine.name == kind
        for name in STANDARD_TABLES:
            assert ws.engine.has_table(name), name
            assert ws.count(name) == 0


def test_tables_and_runs_survive_reopening(kind: str, tmp_path: Path) -> None:
    rows = pa.table(
        {"org": ["a"], "local_person_ref": ["1"], "person_id": ["p"], "match_probability": [1.0]},
        schema=LINKS,
    )
    with Workspace(tmp_path, engine=kind) as ws:
        with ws.run("link", settings={"threshold": 0.9}) as run:
            run.outputs["links"] = ws.engine.write("links", rows)
        with pytest.raises(ValueError), ws.run("journeys"):
            raise ValueError("bad input")
    with Workspace(tmp_path, engine=kind) as ws:
        assert ws.read("links").to_pylist() == rows.to_pylist()
        runs = ws.runs()
    assert [r["command"] for r in runs] == ["link", "journeys"]
    assert runs[0]["engine"] == kind
    assert runs[0]["outputs"] == {"links": 1}
    assert runs[1]["status"] == "failed" and "bad input" in runs[1]["message"]


@pytest.mark.slow
def test_spark_tables_are_parquet_folders_in_the_workspace(tmp_path: Path) -> None:
    with Workspace(tmp_path, engine="spark") as ws:
        ws.engine.write(
            "links",
            pa.table(
                {"org": ["a"], "local_person_ref": ["1"], "person_id": ["p"]},
            ),
        )
    parts = list((tmp_path / "tables" / "links").glob("*.parquet"))
    assert parts
    assert sum(pq.read_metadata(p).num_rows for p in parts) == 1


@pytest.mark.slow
def test_reopening_an_existing_spark_workspace_without_create(tmp_path: Path) -> None:
    with Workspace(tmp_path, engine="spark"):
        pass
    with Workspace(tmp_path, engine="spark", create=False) as ws:
        assert ws.engine.has_table("runs")
    # Opened with no engine named, the folder says which it is.
    with Workspace(tmp_path, create=False) as ws:
        assert ws.engine.name == "spark"


@pytest.mark.slow
def test_the_default_engine_makes_spark_workspaces(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from joinedup.cli import app
    from joinedup.workspace import set_default_engine

    try:
        set_default_engine("spark", "local[1]")
        with Workspace(tmp_path / "new") as ws:
            assert ws.engine.name == "spark"
        assert (tmp_path / "new" / "tables" / "runs").is_dir()
    finally:
        set_default_engine("duckdb")
    # The command line opens it as what it is, with no --engine.
    got = CliRunner().invoke(app, ["runs", "-w", str(tmp_path / "new")])
    assert got.exit_code == 0, got.output
