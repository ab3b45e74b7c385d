"""A log handed over in memory — an Arrow table, a pandas frame, anything that gives an
Arrow stream — or a Parquet file small enough to read whole, mined without an engine.

The three columns are taken as they are (no copy where Arrow allows), rows lacking a
case, an activity or a time are left out and counted, and the rows' own order breaks
ties in time within a case, as a file's row order does. A log this path cannot take —
more than :data:`_dfg.IN_MEMORY_ROWS` events, or times written as text, which need the
engine's parsing and checks — is returned as None and the caller stages it in the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from joinedup.journeys import _dfg, _ordered
from joinedup.journeys._errors import JourneysError

#: What the three columns are called in messages, by argument.
_OPTIONS = {"case_col": "--case-col", "activity_col": "--activity-col", "time_col": "--time-col"}


def as_table(log: Any, columns: dict[str, str], source: str) -> pa.Table:
    """The chosen columns of an in-memory log, as an Arrow table."""
    is_pandas = type(log).__module__.split(".")[0] == "pandas"
    if not (
        isinstance(log, (pa.Table, pa.RecordBatch))
        or is_pandas
        or hasattr(log, "__arrow_c_stream__")
    ):
        raise JourneysError(
            f"cannot read a log from a {type(log).__name__}: give a file path, an Arrow "
            "table, a pandas frame or a table that exports an Arrow stream"
        )
    _check_columns(_column_names(log), columns, source)
    wanted = list(dict.fromkeys(columns.values()))
    if isinstance(log, pa.Table):
        return log.select(wanted)
    if isinstance(log, pa.RecordBatch):
        return pa.Table.from_batches([log]).select(wanted)
    if is_pandas:
        # only the three columns, and not the index, cross over
        return pa.Table.from_pandas(log[wanted], preserve_index=False)
    return pa.table(log).select(wanted)


def _column_names(log: Any) -> list[str]:
    if isinstance(log, (pa.Table, pa.RecordBatch)):
        return list(log.schema.names)
    if hasattr(log, "columns"):
        return [str(c) for c in log.columns]
    return list(pa.table(log).schema.names)


def _check_columns(names: list[str], columns: dict[str, str], source: str) -> None:
    for arg, col in columns.items():
        if col not in names:
            shown = ", ".join(sorted(c for c in names if c not in ("_file", "_row")))
            raise JourneysError(
                f"{source}: no column {col!r} ({_OPTIONS[arg]}); the log has: {shown}"
            )


def read_parquet(path: Path, columns: dict[str, str]) -> pa.Table | None:
    """A Parquet log's three columns read straight into memory when it is small enough
    for the in-memory path; None otherwise."""
    try:
        meta = pq.ParquetFile(path)
    except (OSError, pa.ArrowException):
        return None  # the engine's reader says what is wrong with it
    _check_columns(meta.schema_arrow.names, columns, str(path))
    if meta.metadata.num_rows > _dfg.IN_MEMORY_ROWS:
        return None
    return pq.read_table(path, columns=list(dict.fromkeys(columns.values())))


def discover_table(
    table: pa.Table,
    columns: dict[str, str],
    *,
    graph: bool,
    variants: bool,
) -> _dfg.ProcessMap | None:
    """The process map of a log in memory; None when it is for the engine to do."""
    case = _plain(table.column(columns["case_col"]))
    activity = _plain(table.column(columns["activity_col"]))
    time = table.column(columns["time_col"])
    if table.num_rows > _dfg.IN_MEMORY_ROWS or not (
        _time_type(time.type) and _key_type(case.type) and _key_type(activity.type)
    ):
        return None
    rows = table.num_rows
    if case.null_count or activity.null_count or time.null_count:
        keep = pc.and_(pc.and_(pc.is_valid(case), pc.is_valid(activity)), pc.is_valid(time))
        case, activity, time = (c.filter(keep) for c in (case, activity, time))
    us = _ordered.microseconds(time)
    if us is None:
        return None
    log = _ordered.arrange(case, _text(activity), us)
    result = _dfg.map_of(log, with_graph=graph, with_variants=variants)
    result.skipped = rows - len(us)
    return result


def _time_type(t: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(t) or pa.types.is_date(t))


def _key_type(t: pa.DataType) -> bool:
    """Text or whole numbers (plain or dictionary-coded), which read the same as the
    engine's text; other types go through the engine's cast."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t))


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Text held as views (as some frames give it) becomes ordinary Arrow text."""
    if pa.types.is_string_view(column.type):
        return column.cast(pa.large_string())
    return column


def _text(activity: pa.ChunkedArray) -> pa.ChunkedArray:
    """Activities as text, as the engine's cast would write them."""
    t = activity.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return activity
    return activity.cast(pa.string())
