"""SQL (DuckDB dialect) that types one standard field and says why a value fails.

Each field gives two things: the typed value, and a list of SQL expressions that are a
reason (text) when the value breaks the contract and NULL when it does not. A row loads
when none of its reasons fires; otherwise every reason is kept with the row in quarantine.
"""

from __future__ import annotations

from datetime import date, timedelta

from joinedup.ingest._contract import Contract, FieldSpec

#: Dates and times before this are implausible unless a contract says otherwise.
EARLIEST = date(1900, 1, 1)


def q(identifier: str) -> str:
    """A quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


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
    # it: test the two ends first (a byte comparison) and trim only those that do.
    value = f"CAST({source_sql(fs, alias)} AS VARCHAR)"
    ends = " OR ".join(
        f"starts_with({value}, {ch}) OR ends_with({value}, {ch})"
        for ch in ("' '", "chr(9)", "chr(10)", "chr(13)")
    )
    text = f"NULLIF(CASE WHEN {ends} THEN trim({value}, {_BLANKS}) ELSE {value} END, '')"
    if fs.zero_pad:
        w = int(fs.zero_pad)
        text = (
            f"(CASE WHEN regexp_full_match({text}, '[0-9]+') AND length({text}) < {w} "
            f"THEN lpad({text}, {w}, '0') ELSE {text} END)"
        )
    return text


def _why(cond: str, *parts: str) -> str:
    return f"CASE WHEN {cond} THEN {' || '.join(parts)} END"


def text_name(std: str) -> str:
    """The column of the inner query that holds a field's text (see ``typed_sql``)."""
    return q(f"__text_{std}")


def source_name(std: str) -> str:
    """The column of the inner query that holds a field's source value, untouched."""
    return q(f"__src_{std}")


def typed_sql(std: str, fs: FieldSpec, contract: Contract, today: date) -> tuple[str, list[str]]:
    """SQL for the typed value of standard field ``std``, and SQL for each reason it fails.

    The SQL refers to the field's text and source value by name (``text_name``,
    ``source_name``): an inner query computes them once per row, since the checks use
    the text several times and trimming is the costly part.
    """
    text = text_name(std)
    shown = f"{lit(std + ': ' + chr(39))} || {text} || {lit(chr(39))}"
    reasons: list[str] = []
    if fs.type == "string":
        reasons.append(
            _why(
                f"contains({text}, chr(0))", lit(f"{std}: contains a NUL byte (a corrupt export?)")
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
    src = source_name(std)
    fmt_sql = (
        lit(formats[0]) if len(formats) == 1 else "[" + ", ".join(lit(f) for f in formats) + "]"
    )
    like = " or ".join(formats)
    if fs.type == "timestamp":
        if formats:
            parsed = f"TRY_STRPTIME({text}, {fmt_sql})"
            zoned = any("%z" in f or "%Z" in f for f in formats)
            typed = parsed if zoned else f"timezone({lit(contract.timezone)}, {parsed})"
            expect = f"a date and time like {like}"
        else:
            typed = parsed = f"TRY_CAST({src} AS TIMESTAMPTZ)"
            expect = "a date and time"
    else:
        if formats:
            typed = parsed = f"CAST(TRY_STRPTIME({text}, {fmt_sql}) AS DATE)"
            expect = f"a date like {like}"
        else:
            typed = parsed = f"TRY_CAST({src} AS DATE)"
            expect = "a date"
    reasons.append(
        _why(f"{text} IS NOT NULL AND {parsed} IS NULL", shown, lit(f" is not {expect}"))
    )
    earliest = fs.earliest or EARLIEST
    latest = fs.latest or today + timedelta(days=1)
    after = latest + timedelta(days=1)
    if fs.type == "timestamp":
        lo = f"TIMESTAMPTZ '{earliest.isoformat()} 00:00:00+00'"
        hi = f"TIMESTAMPTZ '{after.isoformat()} 00:00:00+00'"
    else:
        lo, hi = f"DATE '{earliest.isoformat()}'", f"DATE '{after.isoformat()}'"
    reasons.append(
        _why(f"{typed} < {lo}", shown, lit(f" is before {earliest.isoformat()} (implausible)"))
    )
    reasons.append(
        _why(f"{typed} >= {hi}", shown, lit(f" is after {latest.isoformat()} (in the future)"))
    )
    return typed, reasons
