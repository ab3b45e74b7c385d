"""Ingest's writes, through the engine seam: a transaction, and writes that count rows.

An ingest must be all or nothing: a process killed halfway has to leave the workspace
exactly as it was, so it runs in ``Engine.transaction()``. ``insert`` and ``delete``
return the statement's own row count (``Engine.write`` counts the rows it wrote, in one
pass, on every engine), which the load checks against the rows read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

from joinedup.engine import Engine
from joinedup.errors import EngineError


@contextmanager
def transaction(engine: Engine) -> Iterator[None]:
    """Run the block as one transaction on the engine."""
    if "transactions" not in engine.capabilities:
        raise EngineError(f"the {engine.name} engine cannot run an ingest as one transaction")
    with engine.transaction():
        yield


def insert(engine: Engine, table: str, query: str, *, ordered: bool = True) -> int:
    """Append the rows of ``query`` (DuckDB SQL) to ``table``, by column name; the rows
    inserted.

    ``ordered=False`` lets the engine store the rows in any order: DuckDB then writes a
    scan of a large file from all its threads at once, without holding rows back to keep
    the file's order (about a third less work for the 10-million-row benchmark export).
    """
    with contextlib.nullcontext() if ordered else engine.unordered():
        return engine.append(table, query)


def delete(engine: Engine, table: str, where: str) -> int:
    """Delete the rows of ``table`` matching ``where`` (DuckDB SQL); the rows deleted."""
    return engine.delete(table, where)
