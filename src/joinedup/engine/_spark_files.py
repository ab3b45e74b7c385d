"""Reading export files on Spark with each row's number in its file.

Spark reads a large file in splits, in parallel, so there is no "row order" to number by
afterwards. Each row's number is rebuilt from where it was read: the split's starting byte
(``_metadata.file_block_start``) orders the splits, and within a split rows come out in
file order, one after another in one partition, so ``monotonically_increasing_id`` minus
the split's smallest id is the row's place in its split. Adding the rows of every earlier
split gives the 1-based row number DuckDB's single-threaded scan gives.

A CSV file can be read with the column names given (``names``, for a header the caller
has read and made unique) and with the records Spark's reader cannot parse (a wrong number
of fields) kept whole in a ``_corrupt_record`` column (``malformed``), numbered like the
others, so none is silently padded or cut.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from joinedup.errors import EngineError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def read_numbered(
    session: SparkSession, path: Path, fmt: str, options: dict[str, Any]
) -> DataFrame:
    """One file as a DataFrame with ``_file`` and ``_row`` (1-based, in file order) first."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    if not path.exists():
        raise EngineError(f"{path}: no such file")
    if fmt == "csv":
        df = _read_csv(session, path, options)
    elif fmt == "jsonl":
        df = _read_jsonl(session, path, options)
    elif fmt == "parquet":
        df = session.read.parquet(str(path))
    else:
        raise EngineError(f"Spark engine cannot read format {fmt!r}")
    columns = [F.col(f"`{c}`") for c in df.columns]
    label = str(options.get("label") or path)
    tagged = df.select(
        *columns,
        F.col("_metadata.file_block_start").alias("_blk"),
        F.monotonically_increasing_id().alias("_mid"),
    )
    splits = tagged.groupBy("_blk").agg(F.min("_mid").alias("_m0"), F.count(F.lit(1)).alias("_n"))
    earlier = Window.orderBy("_blk").rowsBetween(Window.unboundedPreceding, -1)
    splits = splits.withColumn("_before", F.coalesce(F.sum("_n").over(earlier), F.lit(0)))
    numbered = tagged.join(F.broadcast(splits), "_blk")
    return numbered.select(
        F.lit(label).alias("_file"),
        (F.col("_before") + F.col("_mid") - F.col("_m0") + 1).cast("bigint").alias("_row"),
        *columns,
    )


#: The column that holds a record Spark's CSV reader could not parse, as it was read.
CORRUPT = "_corrupt_record"


def _read_csv(session: SparkSession, path: Path, options: dict[str, Any]) -> DataFrame:
    from pyspark.sql.types import StringType, StructField, StructType

    encoding = str(options.get("encoding") or "utf-8")
    reader = session.read.options(
        header=True,
        inferSchema=False,  # every column as text, as on DuckDB
        # Quoted fields may hold line breaks (free-text notes); a doubled quote is a
        # quote, as RFC 4180 says (Spark's default escape is a backslash).
        multiLine=True,
        quote='"',
        escape='"',
        sep=str(options.get("delimiter") or ","),
        encoding=encoding,
        mode="PERMISSIVE",
    )
    names = options.get("names")
    if names is not None:
        # The header line is skipped and the columns named by position (enforceSchema).
        fields = [StructField(str(n), StringType()) for n in names]
        if options.get("malformed"):
            fields.append(StructField(CORRUPT, StringType()))
            reader = reader.options(columnNameOfCorruptRecord=CORRUPT, enforceSchema=True)
        reader = reader.schema(StructType(fields))
    return reader.csv(str(path))


def _read_jsonl(session: SparkSession, path: Path, options: dict[str, Any]) -> DataFrame:
    from pyspark.sql.types import StringType, StructField, StructType

    encoding = str(options.get("encoding") or "utf-8")
    inferred = session.read.options(encoding=encoding).json(str(path)).schema.fieldNames()
    # Spark sorts inferred fields by name; keep the file's own order where it shows it.
    order: list[str] = []
    with path.open(encoding=encoding) as fh:
        for line in fh:
            if line.strip():
                first = json.loads(line)
                if isinstance(first, dict):
                    order = [k for k in first if k in inferred]
                break
    names = order + [n for n in inferred if n not in order]
    if not names:
        raise EngineError(f"{path}: no JSON objects to read")
    # Every field as text, so a value that is not what the contract expects is
    # quarantined rather than guessed at (a nested object keeps its JSON text).
    schema = StructType([StructField(n, StringType()) for n in names])
    return session.read.options(encoding=encoding).schema(schema).json(str(path))
