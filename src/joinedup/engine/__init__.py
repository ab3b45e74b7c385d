"""The engine seam: the one place that knows which database runs the analyses.

Stages are written against :class:`Engine` — Ibis expressions, or SQL in the DuckDB
dialect that the engine transpiles with sqlglot — so another engine (Spark) can be added
without touching them. An engine declares what it can do in :attr:`Engine.capabilities`;
analyses ask for a capability rather than for an engine by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from joinedup.engine._base import Engine
from joinedup.engine._duckdb import DuckDBEngine
from joinedup.errors import EngineError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["DuckDBEngine", "Engine", "EngineError", "connect"]

ENGINES = ("duckdb", "spark")


def connect(
    kind: str = "duckdb",
    path: Path | str | None = None,
    *,
    threads: int | None = None,
    spark_master: str | None = None,
    spark_session: SparkSession | None = None,
    spark_conf: dict[str, str] | None = None,
) -> Engine:
    """Open an engine of the given kind.

    For DuckDB, ``path`` is the database file (in memory when None). For Spark, tables are
    Parquet folders under ``<root>/tables/``, where the root is ``path`` if it is a folder
    and the folder holding it if it names a file — so a workspace's ``joinedup.duckdb``
    path puts a Spark workspace's tables in the workspace folder. With no path, a Spark
    engine keeps its tables in a temporary folder removed on close. ``spark_master``
    (default ``local[*]``) and ``spark_conf`` start the process's SparkSession if none is
    running; ``spark_session`` uses one you already have.
    """
    if kind == "duckdb":
        return DuckDBEngine(path, threads=threads)
    if kind == "spark":
        from joinedup.engine._spark import DEFAULT_MASTER, SparkEngine

        return SparkEngine(
            path,
            session=spark_session,
            master=spark_master or DEFAULT_MASTER,
            conf=spark_conf,
        )
    raise EngineError(f"unknown engine {kind!r}: expected one of {', '.join(ENGINES)}")
