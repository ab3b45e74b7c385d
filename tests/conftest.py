"""Shared fixtures: an engine, a small synthetic population, and a loaded workspace.

Tests take the ``engine`` fixture so one test body runs on every engine joinedup has:
DuckDB in the fast step of ``make test``, Spark (marked slow, one shared SparkSession) in
the slow step.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from joinedup import ingest
from joinedup.engine import Engine, connect
from joinedup.synth import SynthConfig, SynthResult, generate
from joinedup.workspace import Workspace

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.slow)]

#: Small enough to keep the suite fast, large enough for rates to be measurable.
SMALL = SynthConfig(people=600, seed=7, chunk_size=250)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    eng = connect(request.param, tmp_path / "engine.db")
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def small_synth(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """A small synthetic population, made once per test session; treat as read-only."""
    return generate(tmp_path_factory.mktemp("synth"), SMALL)


@pytest.fixture(scope="session")
def loaded_workspace_dir(
    tmp_path_factory: pytest.TempPathFactory, small_synth: SynthResult
) -> Path:
    """A workspace with the small population's four exports ingested (read-only)."""
    path = tmp_path_factory.mktemp("ws")
    with Workspace(path) as ws:
        for contract in small_synth.contracts:
            ingest.load(contract, ws)
    return path
