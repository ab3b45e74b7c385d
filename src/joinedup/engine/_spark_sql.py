"""SQL written for DuckDB, rewritten for Spark SQL.

sqlglot does most of the work; this module adds the few DuckDB functions the stages use
that sqlglot leaves untranslated or translates loosely, so the result means the same on
Spark:

- ``TRY_STRPTIME(text, '%d/%m/%Y')`` becomes ``TRY_TO_TIMESTAMP(text, 'd/M/yyyy')`` (the
  strftime pattern rewritten as a Java one; a value that does not fit gives NULL).
- ``timezone('Europe/London', ts)`` (a local wall-clock time read in that zone) becomes
  ``to_utc_timestamp(ts, 'Europe/London')``; Spark's session clock is UTC.
- ``list(x ORDER BY y)`` / ``array_agg(x ORDER BY y)`` keep their order and their NULLs:
  sqlglot's ``collect_list`` would lose both, so the values are collected as structs with
  their sort keys, sorted with a comparator, and unwrapped. ``DISTINCT`` inside drops
  repeated (key, value) structs before sorting; a ``FILTER (WHERE …)`` after it applies to
  the collecting, where Spark allows one.
- ``list_has_any(a, b)`` becomes ``arrays_overlap(a, b)``, and
  ``jaro_winkler_similarity(a, b)`` becomes ``jaro_winkler(a, b)``, the function Splink's
  jar registers (Spark has none of its own).
- ``quantile_cont(x, [0.5, 0.95])`` becomes ``percentile(x, array(0.5, 0.95))``;
  ``epoch_us``/``epoch_ms`` become ``unix_micros``/``unix_millis``; ``strlen`` (bytes)
  becomes ``octet_length``; ``list[i]`` with a
  computed ``i`` becomes ``try_element_at(list, i)`` (1-based, NULL past the end).
- ``INTERVAL (expr) SECOND`` (an interval of a computed length) becomes
  ``INTERVAL '1' SECOND * (expr)``: Spark's interval literal takes a constant only.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from joinedup.errors import EngineError

#: Dialects whose SQL Spark runs as it is.
_NATIVE = frozenset({"spark", "spark2", "databricks"})


def to_spark(query: str, dialect: str = "duckdb") -> str:
    """``query``, written in ``dialect``, as Spark SQL."""
    if dialect in _NATIVE:
        return query
    try:
        tree = sqlglot.parse_one(query, read=dialect)
    except sqlglot.errors.ParseError as exc:
        raise EngineError(f"cannot read this {dialect} SQL: {exc}\n{query}") from exc
    return tree.transform(_rewrite).sql(dialect="spark")


def condition_to_spark(where: str, dialect: str = "duckdb") -> str:
    """A boolean condition (the body of a WHERE clause) as Spark SQL."""
    select = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {where}", read=dialect)
    condition = select.args["where"].this
    return condition.transform(_rewrite).sql(dialect="spark")


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        # New nodes are not visited again, so rewrite the arguments first.
        args = [a.transform(_rewrite) for a in node.expressions]
        if name == "try_strptime" and len(args) == 2 and isinstance(args[1], exp.Literal):
            return exp.Anonymous(
                this="TRY_TO_TIMESTAMP",
                expressions=[args[0], exp.Literal.string(_java_format(args[1].name))],
            )
        if name == "timezone" and len(args) == 2:
            return exp.Anonymous(this="TO_UTC_TIMESTAMP", expressions=[args[1], args[0]])
        if name in _EPOCH and len(args) == 1:
            return exp.Anonymous(this=_EPOCH[name], expressions=args)
        if name == "strlen" and len(args) == 1:
            # DuckDB's strlen counts bytes, as Spark's octet_length does.
            return exp.Anonymous(this="OCTET_LENGTH", expressions=args)
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        # quantile_cont(x, q) or (x, [q1, q2 …]): Spark's percentile interpolates the same
        # way (its percentile_cont takes only the WITHIN GROUP form).
        return exp.Anonymous(
            this="PERCENTILE",
            expressions=[node.this.transform(_rewrite), node.expression.transform(_rewrite)],
        )
    if (
        isinstance(node, exp.Bracket)
        and len(node.expressions) == 1
        and not isinstance(node.expressions[0], exp.Literal)
    ):
        # DuckDB counts list places from 1 and gives NULL past the end; sqlglot shifts a
        # constant index for Spark (from 0) but not a computed one.
        # (Spark's element_at takes an INT place; DuckDB's arithmetic gives BIGINTs.)
        place = exp.cast(node.expressions[0].transform(_rewrite), exp.DataType.Type.INT)
        return exp.Anonymous(
            this="TRY_ELEMENT_AT", expressions=[node.this.transform(_rewrite), place]
        )
    if isinstance(node, exp.ArrayOverlaps):
        # sqlglot writes DuckDB's list_has_any as ``a && b``, which Spark does not parse.
        return exp.Anonymous(
            this="ARRAYS_OVERLAP",
            expressions=[node.this.transform(_rewrite), node.expression.transform(_rewrite)],
        )
    if isinstance(node, exp.JarowinklerSimilarity):
        # Spark has no built-in Jaro-Winkler: Splink's jar registers it as jaro_winkler.
        return exp.Anonymous(
            this="JARO_WINKLER",
            expressions=[node.this.transform(_rewrite), node.expression.transform(_rewrite)],
        )
    if isinstance(node, exp.Window) and _is_ordered_agg(node.this):
        # The window applies to the collecting, not to the sorting around it.
        window = node.copy()
        return _ordered_collect(node.this.this.transform(_rewrite), window)
    if isinstance(node, exp.Filter) and _is_ordered_agg(node.this):
        # Likewise the filter: Spark takes FILTER on an aggregate function only.
        where = node.expression.transform(_rewrite)
        return _ordered_collect(node.this.this.transform(_rewrite), where=where)
    if _is_ordered_agg(node):
        return _ordered_collect(node.this.transform(_rewrite))
    if isinstance(node, exp.Interval) and not isinstance(node.this, exp.Literal):
        unit = node.args.get("unit")
        if unit is not None:
            one = exp.Interval(this=exp.Literal.string("1"), unit=unit.copy())
            return exp.Mul(this=one, expression=exp.Paren(this=node.this.transform(_rewrite)))
    return node


#: DuckDB's epoch functions (a timestamp as a whole number since 1970) and Spark's.
_EPOCH = {"epoch_us": "UNIX_MICROS", "epoch_ms": "UNIX_MILLIS"}


def _is_ordered_agg(node: exp.Expression) -> bool:
    return isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order)


#: strftime directives (DuckDB's) and the Java pattern letters Spark parses them with. One
#: letter where DuckDB accepts one or two digits, as Spark's parser does for ``M``, ``d`` ….
_DIRECTIVES = {
    "Y": "yyyy", "y": "yy", "m": "M", "d": "d", "H": "H", "I": "h", "M": "m", "S": "s",
    "f": "SSSSSS", "p": "a", "b": "MMM", "B": "MMMM", "a": "EEE", "A": "EEEE", "j": "D",
    "z": "XXX", "Z": "z", "%": "%",
}  # fmt: skip


def _java_format(strftime: str) -> str:
    """A strftime pattern (DuckDB's) as the Java pattern Spark's parsers take."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            text = "".join(literal).replace("'", "''")
            out.append(f"'{text}'" if any(c.isalpha() or c == "'" for c in text) else text)
            literal.clear()

    i = 0
    while i < len(strftime):
        ch = strftime[i]
        if ch == "%" and i + 1 < len(strftime):
            directive = strftime[i + 1].lstrip("-")
            if strftime[i + 1] == "-" and i + 2 < len(strftime):  # %-d: no padding
                directive, i = strftime[i + 2], i + 1
            if directive not in _DIRECTIVES:
                raise EngineError(f"cannot translate %{directive} in {strftime!r} for Spark")
            flush()
            out.append(_DIRECTIVES[directive])
            i += 2
        else:
            literal.append(ch)
            i += 1
    flush()
    return "".join(out)


def _ordered_collect(
    order: exp.Order, window: exp.Window | None = None, where: exp.Where | None = None
) -> exp.Expression:
    """``array_agg([DISTINCT] value ORDER BY k1 [DESC], ...) [FILTER (WHERE …)]`` in Spark
    SQL, order and NULLs kept."""
    keys: list[exp.Ordered] = list(order.expressions)
    value = order.this
    distinct = isinstance(value, exp.Distinct)
    if distinct:
        if len(value.expressions) != 1:
            raise EngineError(f"cannot translate for Spark: {order.sql('duckdb')}")
        value = value.expressions[0]
    fields = [exp.alias_(k.this.copy(), f"k{i}") for i, k in enumerate(keys)]
    fields.append(exp.alias_(value.copy(), "v"))
    collected: exp.Expression = exp.Anonymous(
        this="COLLECT_LIST", expressions=[exp.Anonymous(this="STRUCT", expressions=fields)]
    )
    if where is not None:
        collected = exp.Filter(this=collected, expression=where)
    if window is not None:
        window.set("this", collected)
        collected = window
    if distinct:
        collected = exp.Anonymous(this="ARRAY_DISTINCT", expressions=[collected])
    # A comparator over the keys in turn; DuckDB sorts NULLs last unless told otherwise.
    cases: list[str] = []
    for i, k in enumerate(keys):
        first, second = ("1", "-1") if k.args.get("desc") else ("-1", "1")
        nulls_first = bool(k.args.get("nulls_first"))
        null_l, null_r = ("-1", "1") if nulls_first else ("1", "-1")
        cases.append(
            f"WHEN l.k{i} IS NULL AND r.k{i} IS NOT NULL THEN {null_l} "
            f"WHEN l.k{i} IS NOT NULL AND r.k{i} IS NULL THEN {null_r} "
            f"WHEN l.k{i} < r.k{i} THEN {first} WHEN l.k{i} > r.k{i} THEN {second}"
        )
    body = sqlglot.parse_one(f"CASE {' '.join(cases)} ELSE 0 END", read="spark")
    comparator = exp.Lambda(this=body, expressions=[exp.to_identifier("l"), exp.to_identifier("r")])
    ordered = exp.Anonymous(this="ARRAY_SORT", expressions=[collected, comparator])
    unwrap = exp.Lambda(this=exp.column("v", table="s"), expressions=[exp.to_identifier("s")])
    result: exp.Expression = exp.Anonymous(this="TRANSFORM", expressions=[ordered, unwrap])
    if where is not None:
        # DuckDB gives NULL when the filter keeps no row; Spark's collect_list, [].
        empty = exp.EQ(
            this=exp.Anonymous(this="SIZE", expressions=[collected.copy()]),
            expression=exp.Literal.number(0),
        )
        result = exp.If(this=empty, true=exp.Null(), false=result)
    return result
