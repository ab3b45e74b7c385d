"""DuckDB, embedded: the default engine, with nothing to install or start."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa
import sqlglot

from joinedup._sql import ident, lit
from joinedup.engine._base import Engine
from joinedup.errors import EngineError


class DuckDBEngine(Engine):
    """An engine over one DuckDB database file (or memory), through Ibis."""

    name = "duckdb"
    # ``streaming_windows``: a window with no order (``lag(x) OVER ()``) runs in one pass
    # over the rows as they are read. ``zone_offsets``: ``timezone`` is DuckDB's own, so
    # local times can be placed by offsets DuckDB found in advance (ingest's placed_sql).
    capabilities = frozenset(
        {
            "files",
            "transactions",
            "try_strptime",
            "bit_count",
            "splink",
            "streaming_windows",
            "zone_offsets",
        }
    )

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: Path | str | None = None,
    ) -> None:
        """Open (or create) the database at ``path``.

        ``memory_limit`` (for example ``"1500MB"``) bounds the memory DuckDB keeps for
        tables and intermediate results; beyond it they spill to ``temp_directory``
        (DuckDB's default: a ``.tmp`` folder beside the database). Left unset, they come
        from ``JOINEDUP_DUCKDB_MEMORY_LIMIT`` and ``JOINEDUP_DUCKDB_TEMP_DIRECTORY``, and
        failing those DuckDB's own defaults apply (80% of the machine's memory).
        """
        self._path = str(path) if path is not None else ":memory:"
        try:
            self._con = ibis.duckdb.connect(self._path)
        except duckdb.Error as exc:  # a locked or corrupt file
            raise EngineError(f"cannot open DuckDB database {self._path}: {exc}") from exc
        # Commands draw their own progress (Rich); DuckDB's bar on long queries would
        # write over it, and fill a pipe that nothing reads.
        self.raw.execute("SET enable_progress_bar = false")
        if threads is not None:
            self.raw.execute(f"SET threads = {int(threads)}")
        settings = {
            "memory_limit": memory_limit or os.environ.get("JOINEDUP_DUCKDB_MEMORY_LIMIT"),
            "temp_directory": temp_directory or os.environ.get("JOINEDUP_DUCKDB_TEMP_DIRECTORY"),
        }
        for name, value in settings.items():
            if value:
                try:
                    self.raw.execute(f"SET {name} = {lit(str(value))}")
                except duckdb.Error as exc:
                    self.close()
                    raise EngineError(f"DuckDB setting {name} = {value!r}: {exc}") from exc

    @contextlib.contextmanager
    def unordered(self) -> Iterator[None]:
        """A block whose writes may store rows in any order.

        DuckDB keeps a scan's order when it writes (``preserve_insertion_order``); a
        parallel scan of a large file must then hold rows back until those before them
        are written. Rows of a table have no order the analyses rely on, so a write that
        numbers nothing can let DuckDB write from every thread as rows come.
        """
        held = self.raw.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
        self.raw.execute("SET preserve_insertion_order = false")
        try:
            yield
        finally:
            keep = "true" if held is None or held[0] else "false"
            self.raw.execute(f"SET preserve_insertion_order = {keep}")

    @contextlib.contextmanager
    def filters_in_place(self) -> Iterator[None]:
        """A block whose queries filter rows where the SQL says.

        DuckDB pushes a filter down past the projections below it, putting their
        expressions in its place: a filter on a parsed date parses every date twice. The
        ingest's write filters on values its inner queries compute (1.2 of 28 CPU s for
        the 10-million-row benchmark export), so it turns that step off.
        """
        held = self.raw.execute("SELECT current_setting('disabled_optimizers')").fetchone()
        before = str(held[0]) if held and held[0] else ""
        off = ",".join(x for x in (before, "filter_pushdown") if x)
        self.raw.execute(f"SET disabled_optimizers = {lit(off)}")
        try:
            yield
        finally:
            self.raw.execute(f"SET disabled_optimizers = {lit(before)}")

    @property
    def backend(self) -> Any:
        return self._con

    @property
    def raw(self) -> duckdb.DuckDBPyConnection:
        """The underlying DuckDB connection (engine-internal use)."""
        return self._con.con

    def has_table(self, name: str) -> bool:
        return name in self._con.list_tables()

    def table(self, name: str) -> ibis.Table:
        if not self.has_table(name):
            raise EngineError(f"no table named {name!r} in {self._path}")
        return self._con.table(name)

    def create_table(self, name: str, schema: pa.Schema, *, overwrite: bool = False) -> None:
        self._con.create_table(name, schema=ibis.Schema.from_pyarrow(schema), overwrite=overwrite)

    def append(self, name: str, query: str) -> int:
        # Straight to DuckDB: through Ibis, the query would be parsed and written out again
        # by sqlglot in Python, a tenth of a second for the ingest's longest queries.
        if not self.has_table(name):
            return super().append(name, query)
        cols = ", ".join(ident(c) for c in self.raw.sql(query).columns)
        done = self.raw.execute(f"INSERT INTO {ident(name)} ({cols}) SELECT {cols} FROM ({query})")
        counted = done.fetchone()
        return int(counted[0]) if counted else 0

    def write(self, name: str, data: pa.Table | ibis.Table, *, mode: str = "append") -> int:
        if mode not in ("append", "replace"):
            raise EngineError(f"unknown write mode {mode!r}: expected append or replace")
        if not self.has_table(name):
            rows = data.num_rows if isinstance(data, pa.Table) else self.count(data)
            self._con.create_table(name, obj=data)
            return rows
        held = f"_joinedup_write_{uuid.uuid4().hex[:12]}"
        if isinstance(data, pa.Table):
            self.raw.register(held, data)
            source, columns = f'"{held}"', data.column_names
        elif mode == "replace":
            # Held in a temporary table first: the query may read the table it replaces.
            self._con.create_table(held, obj=data, temp=True)
            source, columns = f'"{held}"', list(data.columns)
        else:
            self._con._run_pre_execute_hooks(data)  # registers in-memory tables
            source, columns = f"({self._con.compile(data)})", list(data.columns)
        try:
            if mode == "replace":
                target = self._con.table(name).schema()
                self._con.create_table(name, schema=target, overwrite=True)
            # Insert by column name so a source with another column order still lands.
            cols = ", ".join(f'"{c}"' for c in columns)
            done = self.raw.execute(f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM {source}')
            counted = done.fetchone()
            rows = int(counted[0]) if counted else 0
        finally:
            if isinstance(data, pa.Table):
                self.raw.unregister(held)
            elif mode == "replace":
                self.raw.execute(f'DROP TABLE IF EXISTS "{held}"')
        return rows

    def splink_api(self) -> Any:
        from splink import DuckDBAPI

        # DuckDB draws its own progress bar on long queries, which would tear through a
        # command's progress display.
        self.raw.execute("SET enable_progress_bar = false")
        return DuckDBAPI(self.raw)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.raw.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise
        self.raw.execute("COMMIT")

    def drop(self, name: str) -> None:
        self._con.drop_table(name, force=True)

    def sql(self, query: str, *, dialect: str = "duckdb") -> ibis.Table:
        return self._con.sql(query, dialect=dialect)

    def delete(self, name: str, where: str) -> int:
        done = self.raw.execute(f'DELETE FROM "{name}" WHERE {where}').fetchone()
        return int(done[0]) if done else 0

    def to_arrow(self, expr: ibis.Table | str) -> pa.Table:
        if isinstance(expr, str):
            expr = self.table(expr)
        return self._con.to_pyarrow(expr)

    def to_batches(self, expr: ibis.Table, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        # Ibis 12 streams through DuckDB's deprecated fetch_record_batch (a warning, an
        # error under the test settings); run its SQL here and stream with to_arrow_reader.
        # The stream runs on the engine's own connection (a cursor would not see registered
        # or temporary tables), so it holds that connection until it is used up.
        self._con._run_pre_execute_hooks(expr)  # registers in-memory tables
        target = expr.schema().to_pyarrow()
        reader = self.raw.execute(self._con.compile(expr)).to_arrow_reader(batch_size)
        for batch in reader:
            yield batch if batch.schema == target else batch.cast(target)

    def read_files(
        self,
        name: str,
        paths: list[Path],
        fmt: str,
        *,
        columns: Sequence[str] | None = None,
        **options: Any,
    ) -> ibis.Table:
        # One scan per file, numbered in file order: row numbers in quarantine must point
        # at the file's own rows, which a window over several files would not keep.
        parts = []
        for path in paths:
            f = lit(str(path))
            if fmt == "csv":
                delim = lit(options.get("delimiter", ","))
                enc = str(options.get("encoding", "utf-8")).lower().replace("_", "-")
                enc_opt = "" if enc in ("utf-8", "utf8") else f", encoding={lit(enc)}"
                source = (
                    f"read_csv({f}, all_varchar=true, header=true, delim={delim}, "
                    f"parallel=false{enc_opt})"
                )
                number = "row_number() OVER ()"
            elif fmt == "parquet":
                source = f"read_parquet({f}, file_row_number=true)"
                number = "file_row_number + 1"
            elif fmt == "jsonl":
                # Every field as text, as with CSV, so a value that is not what the
                # contract expects is quarantined rather than guessed at.
                described = self.raw.execute(
                    f"DESCRIBE SELECT * FROM read_json({f}, format='newline_delimited')"
                ).fetchall()
                cols = ", ".join(f"{lit(c[0])}: 'VARCHAR'" for c in described)
                source = f"read_json({f}, format='newline_delimited', columns={{{cols}}})"
                number = "row_number() OVER ()"
            else:
                raise EngineError(f"DuckDB engine cannot read format {fmt!r}")
            drop = " EXCLUDE (file_row_number)" if fmt == "parquet" else ""
            chosen = ", ".join(f'"{c}"' for c in columns) if columns is not None else f"*{drop}"
            parts.append(
                f"SELECT {f} AS _file, CAST({number} AS BIGINT) AS _row, {chosen} FROM {source}"
            )
        threads = self.raw.execute("SELECT current_setting('threads')").fetchone()
        # A single thread keeps each scan in file order while the rows are numbered (a
        # Parquet file's numbers are its own, whatever the threads).
        if fmt != "parquet":
            self.raw.execute("SET threads = 1")
        try:
            self.raw.execute(
                f'CREATE OR REPLACE TEMP TABLE "{name}" AS ' + " UNION ALL BY NAME ".join(parts)
            )
        finally:
            self.raw.execute(f"SET threads = {threads[0] if threads else 2}")
        return self._con.table(name)

    def register(self, name: str, data: pa.Table) -> ibis.Table:
        self.raw.register(name, data)
        return self._con.table(name)

    def stage(self, name: str, query: str, *, dialect: str = "duckdb") -> ibis.Table:
        if dialect != "duckdb":
            query = sqlglot.transpile(query, read=dialect, write="duckdb")[0]
        self.raw.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {query}')
        return self._con.table(name)

    def drop_temp(self, name: str) -> None:
        kinds = self.raw.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchall()
        for (kind,) in kinds:
            if kind == "VIEW":
                self.raw.execute(f'DROP VIEW IF EXISTS "{name}"')
            else:
                self.raw.execute(f'DROP TABLE IF EXISTS "{name}"')
        with contextlib.suppress(duckdb.Error):
            self.raw.unregister(name)

    def close(self) -> None:
        self._con.disconnect()
