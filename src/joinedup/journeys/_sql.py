"""Small helpers for writing the stage's SQL (DuckDB dialect, transpiled by the engine)."""

from __future__ import annotations


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def in_list(values: tuple[str, ...] | list[str]) -> str:
    """A parenthesised list of literals for ``IN``; never empty (matches nothing when empty)."""
    return "(" + ", ".join(lit(v) for v in values) + ")" if values else "(NULL)"


def seconds_between(a: str, b: str) -> str:
    """Seconds from timestamp ``a`` to ``b`` as a double, exact to the microsecond.

    From the microseconds since 1970, which are what a timestamp holds: ``date_diff`` on
    times with a zone goes through calendar arithmetic, about a microsecond a row."""
    return f"(CAST(epoch_us({b}) - epoch_us({a}) AS DOUBLE) / 1e6)"
