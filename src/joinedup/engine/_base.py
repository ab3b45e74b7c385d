"""The interface every engine implements."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import sqlglot

from joinedup.errors import EngineError


class Engine(abc.ABC):
    """Register, query, materialise and read back tables on one database engine."""

    #: Short name recorded with every run.
    name: str
    #: What this engine can do, e.g. ``{"files", "transactions"}``; analyses check these.
    capabilities: frozenset[str]

    @property
    @abc.abstractmethod
    def backend(self) -> Any:
        """The Ibis backend, for building expressions."""

    @abc.abstractmethod
    def has_table(self, name: str) -> bool:
        """Whether a table of this name exists."""

    @abc.abstractmethod
    def table(self, name: str) -> ibis.Table:
        """An Ibis expression over a stored table."""

    @abc.abstractmethod
    def create_table(self, name: str, schema: pa.Schema, *, overwrite: bool = False) -> None:
        """Create an empty table with an Arrow schema."""

    @abc.abstractmethod
    def write(self, name: str, data: pa.Table | ibis.Table, *, mode: str = "append") -> int:
        """Append to (``mode="append"``) or replace (``"replace"``) a table; rows written."""

    def append(self, name: str, query: str) -> int:
        """Append the rows of ``query`` (DuckDB SQL) to table ``name``, by column name;
        the rows appended."""
        return self.write(name, self.sql(query))

    def count(self, expr: ibis.Table | str) -> int:
        """Rows in a table or expression."""
        if isinstance(expr, str):
            expr = self.table(expr)
        return int(self.to_arrow(expr.aggregate(n=expr.count())).column("n")[0].as_py())

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose table changes all happen or, on an exception, none do.

        Engines with the ``"transactions"`` capability override this.
        """
        raise EngineError(f"the {self.name} engine cannot run a transaction")

    def filters_in_place(self) -> AbstractContextManager[None]:
        """A block whose queries filter rows where the SQL says (an engine whose optimiser
        copies a filter's expressions below the projections that compute them, so that
        they are computed twice, overrides this to stop it); by default, no change."""
        return contextlib.nullcontext()

    def unordered(self) -> AbstractContextManager[None]:
        """A block whose writes may store rows in any order (an engine that keeps a scan's
        order when it writes overrides this to stop doing so); by default, no change."""
        return contextlib.nullcontext()

    def condition(self, where: str, *, dialect: str = "duckdb") -> str:
        """A boolean SQL condition written in ``dialect``, in this engine's own SQL: for
        SQL that a library runs as it is (Splink's comparison levels and blocking rules)."""
        if dialect == "duckdb":
            return where
        select = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {where}", read=dialect)
        return select.args["where"].this.sql(dialect="duckdb")

    def splink_api(self) -> Any:
        """A Splink database API that runs on this engine (its tables become this engine's
        temporary tables), for linkage. Engines with the ``"splink"`` capability have one.
        """
        raise EngineError(f"Splink cannot run on the {self.name} engine")

    @abc.abstractmethod
    def drop(self, name: str) -> None:
        """Drop a table if it exists."""

    @abc.abstractmethod
    def sql(self, query: str, *, dialect: str = "duckdb") -> ibis.Table:
        """An Ibis expression from SQL written in ``dialect`` (transpiled as needed)."""

    @abc.abstractmethod
    def delete(self, name: str, where: str) -> int:
        """Delete the rows of a table matching a SQL condition (DuckDB dialect); rows deleted."""

    @abc.abstractmethod
    def to_arrow(self, expr: ibis.Table | str) -> pa.Table:
        """Run an expression (or a table name) and read the result back as Arrow."""

    @abc.abstractmethod
    def to_batches(self, expr: ibis.Table, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        """Stream a result back as Arrow record batches, without holding it all.

        Use the stream up before running another query on the same engine: DuckDB streams
        on the engine's one connection.
        """

    @abc.abstractmethod
    def read_files(
        self,
        name: str,
        paths: list[Path],
        fmt: str,
        *,
        columns: Sequence[str] | None = None,
        **options: Any,
    ) -> ibis.Table:
        """Files as a temporary view ``name`` with ``_file`` and ``_row`` (1-based) columns.

        ``fmt`` is csv (every column read as text), jsonl (every column as text) or
        parquet (the file's own types). ``columns`` keeps only those of the files' columns
        (beside ``_file`` and ``_row``); a Parquet file then reads only them.
        """

    @abc.abstractmethod
    def register(self, name: str, data: pa.Table) -> ibis.Table:
        """Make an in-memory Arrow table queryable under ``name`` for this session."""

    @abc.abstractmethod
    def stage(self, name: str, query: str, *, dialect: str = "duckdb") -> ibis.Table:
        """Materialise a query as a temporary table for this session (an explicit,
        named intermediate, dropped with ``drop_temp``)."""

    @abc.abstractmethod
    def drop_temp(self, name: str) -> None:
        """Drop a temporary table or view made by ``stage``, ``register`` or ``read_files``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
