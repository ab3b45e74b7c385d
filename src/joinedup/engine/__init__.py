"""The engine seam: the one place that knows which database runs the analyses.

Stages are written against :class:`Engine` — Ibis expressions, or SQL in the DuckDB
dialect that the engine transpiles with sqlglot — so another engine (Spark) can be added
without touching them. An engine declares what it can do in :attr:`Engine.capabilities`;
analyses ask for a capability rather than for an engine by name.
"""

from __future__ import annotations

from pathlib import Path

from joinedup.engine._base import Engine
from joinedup.engine._duckdb import DuckDBEngine
from joinedup.errors import EngineError

__all__ = ["DuckDBEngine", "Engine", "EngineError", "connect"]

ENGINES = ("duckdb",)


def connect(
    kind: str = "duckdb", path: Path | str | None = None, *, threads: int | None = None
) -> Engine:
    """Open an engine of the given kind; ``path`` is its database (in memory when None)."""
    if kind == "duckdb":
        return DuckDBEngine(path, threads=threads)
    raise EngineError(f"unknown engine {kind!r}: expected one of {', '.join(ENGINES)}")
