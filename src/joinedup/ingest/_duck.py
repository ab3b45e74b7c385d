"""The one place ingest reaches past the engine seam: a transaction, and one-pass writes.

An ingest must be all or nothing: a process killed halfway has to leave the workspace
exactly as it was. ``Engine`` declares a ``"transactions"`` capability but has no method
for one yet, so, until it gains ``Engine.transaction()`` (a context manager: BEGIN on
entry, COMMIT on a clean exit, ROLLBACK on an exception), this module takes the DuckDB
connection from the engine. The same goes for ``insert`` and ``delete`` below, which
return the statement's own row count. Nothing else in ``joinedup.ingest`` touches the
connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from joinedup.engine import Engine
from joinedup.errors import EngineError


@contextmanager
def transaction(engine: Engine) -> Iterator[None]:
    """Run the block as one transaction on the engine's connection."""
    own = getattr(engine, "transaction", None)
    if callable(own):  # the engine has grown the method: use it
        with own():
            yield
        return
    if "transactions" not in engine.capabilities:
        raise EngineError(f"the {engine.name} engine cannot run an ingest as one transaction")
    # MARKED: raw DuckDB connection, because Engine has no transaction API (see above).
    con: Any = getattr(engine, "raw")  # noqa: B009 - DuckDBEngine only
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def insert(engine: Engine, table: str, query: str) -> int:
    """``INSERT INTO table BY NAME <query>`` in one pass; the rows inserted.

    MARKED: ``Engine.write`` counts an expression by running it, then runs it again to
    insert; on a ten-million-row export that doubles the cost of the load. Until the
    engine's write returns the statement's own row count, ingest inserts here.
    """
    con: Any = getattr(engine, "raw")  # noqa: B009 - DuckDBEngine only
    row = con.execute(f'INSERT INTO "{table}" BY NAME {query}').fetchone()
    return int(row[0]) if row else 0


def delete(engine: Engine, table: str, where: str) -> int:
    """``DELETE FROM table WHERE …``; the rows deleted (MARKED, as ``insert``: the
    engine's delete counts the table twice to say how many rows went)."""
    con: Any = getattr(engine, "raw")  # noqa: B009 - DuckDBEngine only
    row = con.execute(f'DELETE FROM "{table}" WHERE {where}').fetchone()
    return int(row[0]) if row else 0
