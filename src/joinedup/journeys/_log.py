"""Any event log — CSV, Parquet or XES — staged as ``(case_id, activity, ts, ord)``.

``ord`` is the row's place in the file, the tie-break for events of one case with equal
timestamps. Times with a UTC offset are converted to UTC; times without one are read as
UTC. Rows lacking a case, an activity or a time are left out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from joinedup.engine import Engine, EngineError
from joinedup.journeys._errors import JourneysError
from joinedup.journeys._sql import ident, lit
from joinedup.journeys._xes import read_xes

LOG = "_jn_log"
_RAW = "_jn_raw"
FORMATS = ("csv", "parquet", "xes")


@dataclass
class StagedLog:
    """A log staged for discovery, and what was left out of it."""

    table: str
    rows: int
    skipped: int


def log_format(path: Path) -> str:
    """The format of a log file, from its name."""
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".xes", ".xes.gz")):
        return "xes"
    raise JourneysError(
        f"{path}: cannot tell the log's format from its name; expected a .csv, .parquet or "
        ".xes (.xes.gz) file"
    )


def stage_log(
    engine: Engine,
    path: Path | str,
    *,
    case_col: str,
    activity_col: str,
    time_col: str,
    time_format: str | None = None,
) -> StagedLog:
    """Read a log file and stage it as :data:`LOG`."""
    path = Path(path)
    if not path.is_file():
        raise JourneysError(f"{path}: no such log file")
    fmt = log_format(path)
    try:
        if fmt == "xes":
            raw = engine.register(_RAW, read_xes(path))
        else:
            raw = engine.read_files(_RAW, [path], fmt)
    except EngineError as exc:
        raise JourneysError(f"{path}: cannot read the log: {exc}") from exc
    columns = set(raw.schema().names)
    for option, col in (
        ("--case-col", case_col),
        ("--activity-col", activity_col),
        ("--time-col", time_col),
    ):
        if col not in columns:
            shown = ", ".join(sorted(c for c in columns if c not in ("_file", "_row")))
            raise JourneysError(f"{path}: no column {col!r} ({option}); the log has: {shown}")
    is_text = raw.schema()[time_col].is_string()
    try:
        return stage_columns(
            engine,
            _RAW,
            source=str(path),
            case_col=case_col,
            activity_col=activity_col,
            time_col=time_col,
            time_is_text=is_text,
            time_format=time_format,
            order_col="_row",
        )
    finally:
        # the whole file is no longer needed once its four columns are staged
        engine.drop_temp(_RAW)


def stage_table(
    engine: Engine,
    table: pa.Table,
    *,
    source: str,
    case_col: str,
    activity_col: str,
    time_col: str,
    time_format: str | None = None,
) -> StagedLog:
    """Stage a log held in memory as :data:`LOG`, its rows numbered in order."""
    numbered = table.append_column("_row", pa.array(np.arange(1, table.num_rows + 1)))
    engine.register(_RAW, numbered)
    try:
        return stage_columns(
            engine,
            _RAW,
            source=source,
            case_col=case_col,
            activity_col=activity_col,
            time_col=time_col,
            time_is_text=pa.types.is_string(table.schema.field(time_col).type)
            or pa.types.is_large_string(table.schema.field(time_col).type),
            time_format=time_format,
            order_col="_row",
        )
    finally:
        engine.drop_temp(_RAW)


def stage_columns(
    engine: Engine,
    table: str,
    *,
    source: str,
    case_col: str,
    activity_col: str,
    time_col: str,
    time_is_text: bool,
    time_format: str | None,
    order_col: str,
) -> StagedLog:
    """Stage the chosen columns of ``table`` as :data:`LOG`, checking every time parses."""
    t = ident(time_col)
    if not time_is_text:
        ts = f"CAST({t} AS TIMESTAMPTZ)"
    elif time_format:
        ts = f"try_strptime({t}, {lit(time_format)})::TIMESTAMPTZ"
    else:
        # An offset-less time is read as UTC whatever the session's time zone.
        ts = (
            f"try_cast(CASE WHEN regexp_matches(trim({t}), '(Z|[+-][0-9]{{2}}:?[0-9]{{2}})$') "
            f"THEN trim({t}) ELSE trim({t}) || '+00:00' END AS TIMESTAMPTZ)"
        )
    parsed = f"""
        SELECT CAST({ident(case_col)} AS VARCHAR) AS case_id,
               CAST({ident(activity_col)} AS VARCHAR) AS activity,
               {ts} AS ts, CAST({ident(order_col)} AS BIGINT) AS ord
        FROM {table}
    """
    if time_is_text:
        bad = engine.to_arrow(
            engine.sql(
                f"""
                SELECT CAST({ident(order_col)} AS BIGINT) AS ord, {t} AS raw FROM {table}
                WHERE {t} IS NOT NULL AND trim({t}) <> '' AND {ts} IS NULL
                ORDER BY ord LIMIT 1
                """
            )
        ).to_pylist()
        if bad:
            hint = (
                f"the format {time_format!r}"
                if time_format
                else "an ISO 8601 time (or pass --time-format)"
            )
            raise JourneysError(
                f"{source}: row {bad[0]['ord']}, column {time_col!r}: cannot read "
                f"{bad[0]['raw']!r} as a time; expected {hint}"
            )
    engine.stage(
        LOG,
        f"""
        SELECT case_id, activity, ts, ord FROM ({parsed})
        WHERE case_id IS NOT NULL AND activity IS NOT NULL AND ts IS NOT NULL
        """,
    )
    rows = engine.count(LOG)
    total = engine.count(table)
    return StagedLog(LOG, rows, total - rows)


def drop_log(engine: Engine) -> None:
    """Drop the staged log and the raw file view."""
    for name in (LOG, _RAW):
        engine.drop_temp(name)
