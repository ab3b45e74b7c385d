"""Small SQL fragments that several stages write the same way (in DuckDB's dialect, which
the Spark engine translates)."""

from __future__ import annotations


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def month_start(column: str) -> str:
    """SQL for the start of the UTC month of the timestamp ``column``, as a plain
    (zone-less) timestamp.

    Cut through its microseconds since the epoch: about five times quicker than cutting
    the zoned time, which goes through the time-zone library row by row (at a million
    people, tens of millions of rows).
    """
    return f"date_trunc('month', make_timestamp(epoch_us({column})))"
