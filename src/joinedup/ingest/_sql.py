"""SQL (DuckDB dialect) that types one standard field and says why a value fails.

Each field gives two things: the typed value, and the ways it can break the contract,
each a condition and a message. A row loads
when none of its reasons fires; otherwise every reason is kept with the row in quarantine.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb

from joinedup._sql import ident as q
from joinedup._sql import lit
from joinedup.ingest._contract import Contract, FieldSpec

#: Dates and times before this are implausible unless a contract says otherwise.
EARLIEST = date(1900, 1, 1)


def source_sql(fs: FieldSpec, alias: str = "r") -> str:
    """The field's source: a column of the export, or an expression over its columns."""
    if fs.column is not None:
        return f"{alias}.{q(fs.column)}"
    return f"({fs.expression})"


_BLANKS = "' ' || chr(9) || chr(10) || chr(13)"


def text_sql(fs: FieldSpec, alias: str = "r") -> str:
    """The field's value as text without surrounding blanks, NULL when empty, with lost
    zeros restored."""
    # Trim spaces, tabs and line ends only (a stated set, so what is kept is predictable).
    # DuckDB's trim costs more than the rest of the checks together, and few values need
    # it: test the two ends first and trim only those that do. A value sorts before '!'
    # exactly when it is empty or its first byte is a space or a control character, so
    # one comparison tests the start (and catches the empty value, which trims to NULL).
    value = f"CAST({source_sql(fs, alias)} AS VARCHAR)"
    ends = " OR ".join(
        f"ends_with({value}, {ch})" for ch in ("' '", "chr(9)", "chr(10)", "chr(13)")
    )
    text = (
        f"(CASE WHEN {value} < '!' OR {ends} THEN NULLIF(trim({value}, {_BLANKS}), '') "
        f"ELSE {value} END)"
    )
    if fs.zero_pad:
        w = int(fs.zero_pad)
        text = (
            f"(CASE WHEN regexp_full_match({text}, '[0-9]+') AND length({text}) < {w} "
            f"THEN lpad({text}, {w}, '0') ELSE {text} END)"
        )
    return text


@dataclass(frozen=True)
class Reason:
    """A way a value can fail: SQL that is true when it does, and SQL for the message."""

    when: str
    message: str


def _why(cond: str, *parts: str) -> Reason:
    return Reason(cond, " || ".join(parts))


def reasons_sql(reasons: list[Reason]) -> str:
    """SQL for all the reasons a row fails, joined with '; ' ('' when it loads).

    Most rows fail nothing: one test of every condition decides that, and the messages
    are put together only for the rows that do fail.
    """
    if not reasons:
        return "''"
    anything = " OR ".join(f"({r.when})" for r in reasons)
    each = ", ".join(f"CASE WHEN {r.when} THEN {r.message} END" for r in reasons)
    return f"(CASE WHEN {anything} THEN concat_ws('; ', {each}) ELSE '' END)"


def text_name(std: str) -> str:
    """The column of the inner query that holds a field's text (see ``typed_sql``)."""
    return q(f"__text_{std}")


def source_name(std: str) -> str:
    """The column of the inner query that holds a field's source value, untouched."""
    return q(f"__src_{std}")


def parsed_name(std: str) -> str:
    """The column of the inner query that holds a date field's parsed value."""
    return q(f"__parsed_{std}")


def parsed_sql(std: str, fs: FieldSpec) -> str | None:
    """SQL for a date or time field's value as parsed (before any time zone is applied),
    over the field's text and source value; None for a text field. Computed once per row
    in a query of its own, since the checks use it several times."""
    if fs.type == "string":
        return None
    text, src = text_name(std), source_name(std)
    formats = fs.formats
    fmt_sql = (
        lit(formats[0]) if len(formats) == 1 else "[" + ", ".join(lit(f) for f in formats) + "]"
    )
    if fs.type == "timestamp":
        return f"TRY_STRPTIME({text}, {fmt_sql})" if formats else f"TRY_CAST({src} AS TIMESTAMPTZ)"
    if formats:
        return f"CAST(TRY_STRPTIME({text}, {fmt_sql}) AS DATE)"
    return f"TRY_CAST({src} AS DATE)"


#: Format codes that read fractions of a second.
_FRACTIONS = ("%f", "%g", "%n")


@functools.lru_cache(maxsize=32)
def _offsets(zone: str, lo: date, hi: date) -> tuple[list[tuple[datetime, int | None]], datetime]:
    """The local days from ``lo`` to ``hi`` in ``zone`` as runs of one offset from UTC
    (seconds), as DuckDB's own ``timezone`` places them: each run's first local time and
    offset, or None for a day the offset changes in; and the end of the last day.

    A day is taken to keep one offset when its midnight and the next have the same one
    (time zones change offset months apart, never twice in a day).
    """
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT t, CAST(epoch(t) - epoch(timezone({lit(zone)}, t)) AS BIGINT) FROM "
            f"generate_series(TIMESTAMP '{lo}', TIMESTAMP '{hi}', INTERVAL 1 DAY) AS g(t) "
            "ORDER BY t"
        ).fetchall()
    runs: list[tuple[datetime, int | None]] = []
    for (day, off), (_, nxt) in itertools.pairwise(rows):
        kept = off if off == nxt else None
        if not (runs and kept is not None and runs[-1][1] == kept):
            runs.append((day, kept))
    return runs, rows[-1][0]


def placed_sql(zone: str, parsed: str, lo: date, hi: date) -> str:
    """SQL placing ``parsed``, a local time in whole seconds, in ``zone``: what
    ``timezone(zone, parsed)`` gives, at a fraction of its cost for times from ``lo`` to
    ``hi``.

    DuckDB's ``timezone`` asks ICU for the offset of every value (the costliest step of
    an ingest's write); here the offsets are found once for each local day (``_offsets``)
    and each value finds its run by a tree of comparisons, then is shifted by the run's
    offset. A day the offset changes in, and times outside the days, are placed by
    ``timezone`` itself. ``to_timestamp`` takes seconds as a double, exact for whole
    seconds only: times with fractions of a second must use ``timezone``.
    """
    exact = f"timezone({lit(zone)}, {parsed})"
    if hi - lo < timedelta(days=2):
        return exact
    runs, end = _offsets(zone, lo, hi)

    def node(a: int, b: int) -> str:
        if b - a == 1:
            off = runs[a][1]
            return exact if off is None else f"to_timestamp(epoch({parsed}) - {off})"
        m = (a + b) // 2
        return (
            f"CASE WHEN {parsed} < TIMESTAMP '{runs[m][0]}' THEN {node(a, m)} ELSE {node(m, b)} END"
        )

    return (
        f"CASE WHEN {parsed} < TIMESTAMP '{runs[0][0]}' OR {parsed} >= TIMESTAMP '{end}' "
        f"THEN {exact} ELSE {node(0, len(runs))} END"
    )


def typed_sql(
    std: str,
    fs: FieldSpec,
    contract: Contract,
    today: date,
    *,
    nul: bool = True,
    offsets: bool = False,
) -> tuple[str, list[Reason]]:
    """SQL for the typed value of standard field ``std``, and SQL for each reason it fails.

    The SQL refers to the field's text and parsed value by name (``text_name``,
    ``parsed_name``): inner queries compute them once per row, since the checks use
    them several times and trimming and parsing are the costly parts. ``nul=False``
    leaves out the test for NUL bytes, for files known to hold none. ``offsets`` places
    local times in their zone by offsets found in advance (``placed_sql``), for an
    engine whose ``timezone`` is DuckDB's.
    """
    text = text_name(std)
    shown = f"{lit(std + ': ' + chr(39))} || {text} || {lit(chr(39))}"
    reasons: list[Reason] = []
    if fs.type == "string":
        if nul:
            # Trimming keeps every NUL byte, so the value as exported is tested. A file
            # found to hold none (see ``_read.holds_nul``) is not searched again here.
            reasons.append(
                _why(
                    f"contains(CAST({source_name(std)} AS VARCHAR), chr(0))",
                    lit(f"{std}: contains a NUL byte (a corrupt export?)"),
                )
            )
        value = text
        if fs.pattern is not None:
            reasons.append(
                _why(
                    f"{text} IS NOT NULL AND NOT regexp_full_match({text}, {lit(fs.pattern)})",
                    shown,
                    lit(f" does not match the pattern {fs.pattern}"),
                )
            )
        if fs.codes:
            cases = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in fs.codes.items())
            value = f"(CASE {text} {cases} END)"
            expected = ", ".join(fs.codes)
            reasons.append(
                _why(
                    f"{text} IS NOT NULL AND {value} IS NULL",
                    lit(f"{std}: unknown code "),
                    text,
                    lit(f" (expected one of {expected})"),
                )
            )
        return value, reasons

    formats = fs.formats
    like = " or ".join(formats)
    parsed = parsed_name(std)
    typed = placed = parsed
    earliest = fs.earliest or EARLIEST
    latest = fs.latest or today + timedelta(days=1)
    after = latest + timedelta(days=1)
    if fs.type == "timestamp":
        if formats:
            if not any("%z" in f or "%Z" in f for f in formats):
                typed = placed = f"timezone({lit(contract.timezone)}, {parsed})"
                if offsets and not any(c in f for f in formats for c in _FRACTIONS):
                    # Every time that loads is within a day of the bounds (no zone is
                    # further from UTC); the runs cover a day more each side.
                    first, last = earliest - timedelta(days=2), after + timedelta(days=2)
                    typed = placed_sql(contract.timezone, parsed, first, last)
            expect = f"a date and time like {like}"
        else:
            expect = "a date and time"
    else:
        expect = f"a date like {like}" if formats else "a date"
    reasons.append(
        _why(f"{text} IS NOT NULL AND {parsed} IS NULL", shown, lit(f" is not {expect}"))
    )
    if fs.type == "timestamp":
        lo = f"TIMESTAMPTZ '{earliest.isoformat()} 00:00:00+00'"
        hi = f"TIMESTAMPTZ '{after.isoformat()} 00:00:00+00'"
    else:
        lo, hi = f"DATE '{earliest.isoformat()}'", f"DATE '{after.isoformat()}'"
    # The checks place the few times near a bound with ``timezone`` itself.
    too_early, too_late = f"{placed} < {lo}", f"{placed} >= {hi}"
    if placed != parsed:
        # Putting a local time in its time zone is costly. No zone is
        # more than a day from UTC, so only a local time within two days of a bound can
        # fall either side of it once placed: place those alone.
        near_lo = f"TIMESTAMP '{(earliest + timedelta(days=2)).isoformat()} 00:00:00'"
        near_hi = f"TIMESTAMP '{(after - timedelta(days=2)).isoformat()} 00:00:00'"
        too_early = f"CASE WHEN {parsed} < {near_lo} THEN {too_early} ELSE false END"
        too_late = f"CASE WHEN {parsed} >= {near_hi} THEN {too_late} ELSE false END"
    reasons.append(_why(too_early, shown, lit(f" is before {earliest.isoformat()} (implausible)")))
    reasons.append(_why(too_late, shown, lit(f" is after {latest.isoformat()} (in the future)")))
    return typed, reasons
