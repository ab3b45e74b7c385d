"""Apache Spark, through Ibis's PySpark backend: for data that outgrows one machine.

A Spark workspace keeps each table as a folder of Parquet files, ``<root>/tables/<name>/``,
and registers every folder as a view when the engine opens, so a workspace survives a
restart and any Spark (or DuckDB, or pandas) can read the tables directly. Intermediate
tables made by :meth:`SparkEngine.stage` are Parquet too, under ``<root>/.staging/``, so an
explicit intermediate is really materialised (a cached DataFrame could be evicted and
silently recomputed from inputs that have changed since).

Each engine works in its own Spark session (``newSession()``): its views are its own, while
the SparkContext — the JVM, the executors — is shared by every engine in the process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from joinedup.engine._base import Engine
from joinedup.engine._journal import Journal
from joinedup.engine._spark_sql import condition_to_spark, to_spark
from joinedup.errors import EngineError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The master a local run uses: every core of this machine.
DEFAULT_MASTER = "local[*]"

_PANDAS_NOTICE = "PySpark does not yet fully support pandas"

_lock = threading.Lock()
_shared: SparkSession | None = None
#: Checkpoint folders the engines set (Spark's is one per process), as Spark reports them.
_our_checkpoints: set[str] = set()


def shared_session(
    master: str = DEFAULT_MASTER,
    *,
    shuffle_partitions: int | None = None,
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """The process's one SparkSession, started on first use (about 5 s).

    A local master gets as many shuffle partitions as it has cores, not Spark's 200: the
    default is sized for a cluster and makes every small aggregation slow. The UI is off.
    Settings in ``conf`` (e.g. ``spark.driver.memory``) apply only when the session starts.
    """
    global _shared
    _quiet_query_errors()
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # the optional extra is not installed
        raise EngineError(
            "the Spark engine needs PySpark: pip install 'joinedup[spark]' "
            "(and a Java runtime, 17 or newer)"
        ) from exc
    with _lock:
        if _shared is not None and _is_alive(_shared):
            return _shared
        active = SparkSession.getActiveSession()
        if active is not None:
            _shared = active
            return active
        if shuffle_partitions is None and master.startswith("local"):
            shuffle_partitions = _local_cores(master)
        builder = (
            SparkSession.builder.master(master)
            .appName("joinedup")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
        )
        if shuffle_partitions is not None:
            builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        jar = _splink_jar()
        if jar is not None:
            builder = builder.config("spark.jars", jar)
        for key, value in (conf or {}).items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # no Java, a bad master URL, a port in use …
            raise EngineError(f"cannot start Spark on {master}: {exc}") from exc
        session.sparkContext.setLogLevel("ERROR")
        _shared = session
        return session


def _quiet_query_errors() -> None:
    """Stop PySpark logging every failed query as a page of JSON on stderr: the error
    reaches the caller as an exception (an :class:`EngineError` with the SQL) anyway."""
    with contextlib.suppress(ImportError):
        from pyspark.logger import PySparkLogger

        for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        # PySpark checks the pandas version when it first converts a Python value; it
        # warns about pandas 3, which this engine does not use (data moves as Arrow).
        warnings.filterwarnings("ignore", message=_PANDAS_NOTICE, category=FutureWarning)
        with contextlib.suppress(ImportError):
            import pyspark.testing.utils  # noqa: F401


def _splink_jar() -> str | None:
    """Splink's jar of similarity functions (Jaro-Winkler and others) for this Spark, so
    linkage of plain text runs on Spark as on DuckDB; None if Splink has none for it."""
    try:
        from splink.backends.spark import similarity_jar_location

        path = similarity_jar_location()
    except Exception:  # no Splink, or a Spark version it has no jar for
        return None
    return path if Path(path).is_file() else None


def _is_alive(session: SparkSession) -> bool:
    sc = session.sparkContext
    return getattr(sc, "_jsc", None) is not None


def _local_cores(master: str) -> int:
    inside = master[master.find("[") + 1 : master.find("]")] if "[" in master else "1"
    if inside in ("*", ""):
        return os.cpu_count() or 2
    try:
        return max(1, int(inside.split(",")[0]))
    except ValueError:
        return os.cpu_count() or 2


def workspace_root(path: Path | str) -> Path:
    """The folder holding a Spark engine's tables, from the path :func:`connect` was given.

    An existing folder, or a path without a suffix, is the root itself; a file path (such
    as the workspace's ``joinedup.duckdb``) puts the tables in the folder beside it.
    """
    p = Path(path)
    if p.is_dir() or not p.suffix:
        return p
    return p.parent


class SparkEngine(Engine):
    """An engine over Parquet tables in a folder, queried by Spark through Ibis."""

    name = "spark"
    # Spark SQL has bit_count, and TRY_STRPTIME is rewritten to try_to_timestamp. Splink
    # runs on Spark, with its similarity functions from the jar the session loads.
    # Transactions are the engine's own (a journal over the Parquet folders, see
    # _journal.py): all or nothing for one writer, with no isolation from other readers.
    # ``csv_rejects``: read_files keeps the CSV records its reader cannot parse apart
    # (ingest reads CSV with it, since DuckDB's read_csv and its rejects tables are not
    # Spark's).
    capabilities = frozenset(
        {"files", "transactions", "try_strptime", "bit_count", "splink", "csv_rejects"}
    )

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        session: SparkSession | None = None,
        master: str = DEFAULT_MASTER,
        shuffle_partitions: int | None = None,
        conf: dict[str, str] | None = None,
    ) -> None:
        self._private = path is None
        root = Path(tempfile.mkdtemp(prefix="joinedup-spark-")) if path is None else path
        self.root = workspace_root(root).resolve()
        self._tables_dir = self.root / "tables"
        self._tables_dir.mkdir(parents=True, exist_ok=True)
        self._staging = self.root / ".staging" / uuid.uuid4().hex[:12]
        base = session or shared_session(master, shuffle_partitions=shuffle_partitions, conf=conf)
        # A session of our own: temporary views do not leak between engines.
        self._session: SparkSession = base.newSession()
        self._session.conf.set("spark.sql.session.timeZone", "UTC")
        with warnings.catch_warnings():
            # Ibis's PySpark backend declares a pandas UDF on import, and PySpark warns that
            # pandas 3 is not yet fully supported; this engine moves data as Arrow, not
            # through pandas, so the notice does not apply.
            warnings.filterwarnings("ignore", message=_PANDAS_NOTICE, category=FutureWarning)
            self._con = ibis.pyspark.connect(self._session)
        self._tables: dict[str, Path] = {}
        self._temps: dict[str, Path | None] = {}
        self._journal: Journal | None = None
        # A transaction a dead process left unfinished is rolled back before anything.
        Journal.recover(self._tables_dir)
        for folder in sorted(self._tables_dir.iterdir()):
            if folder.is_dir() and not folder.name.startswith((".", "_")):
                self._tables[folder.name] = folder
                self._refresh(folder.name)

    # -- what the stages see -------------------------------------------------------------

    @property
    def backend(self) -> Any:
        return self._con

    @property
    def session(self) -> SparkSession:
        """This engine's SparkSession (for Splink's Spark backend and the like)."""
        return self._session

    def has_table(self, name: str) -> bool:
        return name in self._tables or name in self._temps

    def condition(self, where: str, *, dialect: str = "duckdb") -> str:
        return (
            where
            if dialect in ("spark", "spark2", "databricks")
            else condition_to_spark(where, dialect)
        )

    def splink_api(self) -> Any:
        from splink import SparkAPI

        # Splink writes its intermediates as Parquet in the SparkContext's checkpoint
        # folder, which cuts each one's lineage: persisting instead lets the plans of its
        # iterative clustering grow until the driver runs out of memory. A folder someone
        # else set is kept; otherwise it is this engine's staging folder.
        jsc = self._session.sparkContext._jsc
        current = jsc.sc().getCheckpointDir()
        if current.isEmpty() or current.get() in _our_checkpoints:
            folder = self._staging / "checkpoints"
            folder.mkdir(parents=True, exist_ok=True)
            self._session.sparkContext.setCheckpointDir(str(folder))
            _our_checkpoints.add(jsc.sc().getCheckpointDir().get())
        return SparkAPI(spark_session=self._session, break_lineage_method="parquet")

    def table(self, name: str) -> ibis.Table:
        if not self.has_table(name):
            raise EngineError(f"no table named {name!r} in {self._tables_dir}")
        return self._con.table(name)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: on an exception every table changed in the block is put back
        (from a journal on disk, so a process that dies halfway is rolled back too)."""
        if self._journal is not None:
            raise EngineError("a transaction is already open on this engine")
        self._journal = Journal(self._tables_dir)
        try:
            yield
        except BaseException:
            journal, self._journal = self._journal, None
            for name in journal.rollback():
                if (self._tables_dir / name).is_dir():
                    self._tables[name] = self._tables_dir / name
                    self._refresh(name)
                elif self._tables.pop(name, None) is not None:
                    self._session.catalog.dropTempView(name)
            raise
        journal, self._journal = self._journal, None
        journal.commit()

    def create_table(self, name: str, schema: pa.Schema, *, overwrite: bool = False) -> None:
        if name in self._tables and not overwrite:
            raise EngineError(f"table {name!r} already exists in {self._tables_dir}")
        empty = self._session.createDataFrame(_for_spark(schema.empty_table()))
        self._publish(name, empty)

    def write(self, name: str, data: pa.Table | ibis.Table, *, mode: str = "append") -> int:
        if mode not in ("append", "replace"):
            raise EngineError(f"unknown write mode {mode!r}: expected append or replace")
        df = self._frame(data)
        if name not in self._tables:
            return self._publish(name, df)
        df = self._align(name, df)
        if mode == "replace":
            return self._publish(name, df)
        folder = self._tables[name]
        if self._journal is not None:
            self._journal.touch(name)
        before = set(_parquet_files(folder))
        df.write.mode("append").parquet(str(folder))
        self._refresh(name)
        return sum(_rows(f) for f in _parquet_files(folder) if f not in before)

    def drop(self, name: str) -> None:
        if name not in self._tables:
            return
        if self._journal is not None:
            self._journal.touch(name)
        folder = self._tables.pop(name)
        self._session.catalog.dropTempView(name)
        self._retire(name, folder)

    def delete(self, name: str, where: str) -> int:
        if name not in self._tables:
            raise EngineError(f"no table named {name!r} in {self._tables_dir}")
        from pyspark.sql import functions as F

        condition = F.expr(condition_to_spark(where))
        df = self._session.table(name)
        doomed = df.filter(condition).count()
        if doomed:
            # DELETE removes the rows where the condition is true: NULL keeps the row.
            self._publish(name, df.filter(~F.coalesce(condition, F.lit(False))))
        return doomed

    def sql(self, query: str, *, dialect: str = "duckdb") -> ibis.Table:
        spark_sql = to_spark(query, dialect)
        try:
            return self._con.sql(spark_sql)
        except Exception as exc:
            raise EngineError(
                f"Spark cannot run this query: {_first_line(exc)}\n{spark_sql}"
            ) from exc

    def count(self, expr: ibis.Table | str) -> int:
        if isinstance(expr, str):
            if expr in self._tables:
                return sum(_rows(f) for f in _parquet_files(self._tables[expr]))
            return int(self._session.table(expr).count())
        return int(self._frame(expr).count())

    def to_arrow(self, expr: ibis.Table | str) -> pa.Table:
        if isinstance(expr, str):
            if not self.has_table(expr):
                raise EngineError(f"no table named {expr!r} in {self._tables_dir}")
            return _from_spark(self._session.table(expr).toArrow())
        return _from_spark(self._frame(expr).toArrow(), expr.schema().to_pyarrow())

    def to_batches(self, expr: ibis.Table, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        # Spark has no streaming collect to Arrow: the result goes to Parquet first and is
        # read back a batch at a time, in the order of its parts, so memory stays bounded.
        folder = self._staging / f"_batches_{uuid.uuid4().hex[:8]}"
        target = expr.schema().to_pyarrow()
        self._frame(expr).write.parquet(str(folder))
        try:
            for part in _parquet_files(folder):
                for batch in pq.ParquetFile(part).iter_batches(batch_size=batch_size):
                    yield _from_spark(pa.Table.from_batches([batch]), target).to_batches()[0]
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def read_files(
        self,
        name: str,
        paths: list[Path],
        fmt: str,
        *,
        columns: Sequence[str] | None = None,
        **options: Any,
    ) -> ibis.Table:
        """Files as a temporary table ``name``, rows numbered (see ``Engine.read_files``).

        For CSV, options beyond the base ones: ``names`` (the columns, by position: the
        header line is skipped), ``label`` (the ``_file`` value, for a file read from a
        copy) and ``rejects``, a view name (with ``names``): the records Spark's reader
        cannot parse (a wrong number of fields) go there whole, as ``_file``, ``_row`` and
        ``line``, instead of being padded or cut into ``name`` (the ``csv_rejects``
        capability). Both views read the same staged files: read ``rejects`` before
        dropping ``name``.
        """
        from pyspark.sql import functions as F

        from joinedup.engine._spark_files import CORRUPT, read_numbered

        rejects = options.pop("rejects", None)
        if rejects is not None and (fmt != "csv" or options.get("names") is None):
            raise EngineError("read_files keeps rejected rows apart only for CSV with names")
        options["malformed"] = rejects is not None
        frames = [read_numbered(self._session, Path(p), fmt, options) for p in paths]
        if not frames:
            raise EngineError(f"no files to read for {name!r}")
        df = frames[0]
        for other in frames[1:]:
            df = df.unionByName(other, allowMissingColumns=True)
        if columns is not None:
            kept = [*columns, CORRUPT] if rejects is not None else columns
            df = df.select("_file", "_row", *(f"`{c}`" for c in kept))
        if rejects is None:
            return self._stage_frame(name, df)
        # Read once (Spark's reader is the costly part), then split into two views of
        # the same files: the rows, and the few rejects (read them before dropping
        # ``name``, whose folder it is).
        folder = self._staging / f"{name}.{uuid.uuid4().hex[:8]}"
        df.write.parquet(str(folder))
        read = self._session.read.parquet(str(folder))
        self.drop_temp(rejects)
        bad = read.filter(F.col(CORRUPT).isNotNull())
        bad.select("_file", "_row", F.col(CORRUPT).alias("line")).createOrReplaceTempView(rejects)
        self._temps[rejects] = None
        self.drop_temp(name)
        read.filter(F.col(CORRUPT).isNull()).drop(CORRUPT).createOrReplaceTempView(name)
        self._temps[name] = folder
        return self._con.table(name)

    def register(self, name: str, data: pa.Table) -> ibis.Table:
        self.drop_temp(name)
        self._session.createDataFrame(_for_spark(data)).createOrReplaceTempView(name)
        self._temps[name] = None
        return self._con.table(name)

    def stage(self, name: str, query: str, *, dialect: str = "duckdb") -> ibis.Table:
        spark_sql = to_spark(query, dialect)
        try:
            df = self._session.sql(spark_sql)
        except Exception as exc:
            raise EngineError(
                f"Spark cannot run this query: {_first_line(exc)}\n{spark_sql}"
            ) from exc
        return self._stage_frame(name, df)

    def drop_temp(self, name: str) -> None:
        if name not in self._temps:
            return
        folder = self._temps.pop(name)
        self._session.catalog.dropTempView(name)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        for name in list(self._temps):
            self.drop_temp(name)
        shutil.rmtree(self._staging, ignore_errors=True)
        if self._private:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- inside the engine ---------------------------------------------------------------

    def _frame(self, data: pa.Table | ibis.Table) -> DataFrame:
        """A Spark DataFrame for Arrow data or an Ibis expression."""
        if isinstance(data, pa.Table):
            return self._session.createDataFrame(_for_spark(data))
        self._register_memtables(data)
        return self._session.sql(self._con.compile(data))

    def _register_memtables(self, expr: ibis.Table) -> None:
        # Ibis would register in-memory tables through pandas; Arrow is direct and exact.
        from ibis.expr import operations as ops

        for op in expr.op().find(ops.InMemoryTable):
            arrow = op.data.to_pyarrow(op.schema)
            self._session.createDataFrame(_for_spark(arrow)).createOrReplaceTempView(op.name)

    def _align(self, name: str, df: DataFrame) -> DataFrame:
        """``df`` with the stored table's columns, by name, in its order and types."""
        from pyspark.sql import functions as F

        target = self._session.table(name).schema
        extra = [c for c in df.columns if c not in target.fieldNames()]
        if extra:
            raise EngineError(
                f"cannot write to {name!r}: it has no column {', '.join(map(repr, extra))}"
            )
        present = set(df.columns)
        return df.select(
            *[
                (F.col(f"`{f.name}`") if f.name in present else F.lit(None))
                .cast(f.dataType)
                .alias(f.name)
                for f in target.fields
            ]
        )

    def _publish(self, name: str, df: DataFrame) -> int:
        """Write ``df`` as the whole of table ``name``: to a new folder, then swapped in,
        so a table can be replaced by a query that reads it."""
        folder = self._tables_dir / name
        fresh = self._tables_dir / f".{name}.{uuid.uuid4().hex[:8]}"
        df.write.parquet(str(fresh))
        if self._journal is not None:
            self._journal.touch(name)
        if folder.exists():
            self._retire(name, folder)
        fresh.rename(folder)
        self._tables[name] = folder
        self._refresh(name)
        return sum(_rows(f) for f in _parquet_files(folder))

    def _retire(self, name: str, folder: Path) -> None:
        """Take a table's folder out of use: deleted, or kept aside while a transaction
        may still need to go back to it."""
        old = folder.with_name(f".{name}.old.{uuid.uuid4().hex[:8]}")
        folder.rename(old)
        if self._journal is None or not self._journal.keep_aside(name, old):
            shutil.rmtree(old, ignore_errors=True)

    def _refresh(self, name: str) -> None:
        """Point the view ``name`` at the table's current files."""
        self._session.read.parquet(str(self._tables[name])).createOrReplaceTempView(name)

    def _stage_frame(self, name: str, df: DataFrame) -> ibis.Table:
        folder = self._staging / f"{name}.{uuid.uuid4().hex[:8]}"
        df.write.parquet(str(folder))
        self.drop_temp(name)
        self._session.read.parquet(str(folder)).createOrReplaceTempView(name)
        self._temps[name] = folder
        return self._con.table(name)


def _parquet_files(folder: Path) -> list[Path]:
    """The data files of a Parquet folder, in part order."""
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith((".", "_")))


def _rows(path: Path) -> int:
    return int(pq.read_metadata(path).num_rows)


def _for_spark(table: pa.Table) -> pa.Table:
    """Arrow data in the types Spark takes: microsecond timestamps, no null-typed columns."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_timestamp(t) and t.unit == "ns":
            t = pa.timestamp("us", tz=t.tz)
        elif pa.types.is_null(t) or pa.types.is_large_string(t):
            t = pa.string()
        fields.append(pa.field(f.name, t, nullable=True))
    schema = pa.schema(fields)
    if table.num_rows == 0:
        # An empty table may hold no chunks at all, which PySpark cannot convert.
        return schema.empty_table()
    return table if schema == table.schema else table.cast(schema)


def _from_spark(table: pa.Table, target: pa.Schema | None = None) -> pa.Table:
    """Spark's Arrow output in plain types: ``string`` not ``large_string`` and so on;
    cast to ``target`` (the Ibis schema of the expression) where one is given."""
    fields = []
    for i, f in enumerate(table.schema):
        want = target.field(f.name).type if target is not None and f.name in target.names else None
        fields.append(pa.field(f.name, want or _small(f.type), nullable=f.nullable))
        del i
    schema = pa.schema(fields)
    return table if schema == table.schema else table.cast(schema)


def _small(t: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(_small(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _small(f.type), f.nullable) for f in t])
    return t


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
