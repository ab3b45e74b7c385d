"""Directly-follows graphs, start and end activities and variants.

Works on any log staged as ``(case_id, activity, ts, ord)``: ``ord`` breaks ties between
events of one case with equal timestamps (a file's row order, or an episode's position).
Each case is ordered by ``ts`` then ``ord``.

Two ways to the same figures. A log of up to :data:`IN_MEMORY_ROWS` events is read back
from the engine once and sorted in memory; successors are then neighbouring rows
(``_ordered.py``). A larger log stays in the engine: ``LEAD`` over each case's order
gives each event's successor in SQL, so nothing is held in Python and the engine can
spill to disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from joinedup.engine import Engine
from joinedup.journeys import _ordered

_STEPS, _CODES = "_jn_steps", "_jn_codes"
VARIANT_SEPARATOR = " > "
#: Logs up to this many events are sorted in memory; larger ones are processed in the
#: engine, out of core. A 10M-event log peaked at 3.0 GB for the whole process (the
#: engine's copy of the log included), so about 6 GB at this limit.
IN_MEMORY_ROWS = 20_000_000

DFG_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("target", pa.string()),
        ("frequency", pa.int64()),
        ("mean_seconds", pa.float64()),
        ("median_seconds", pa.float64()),
        ("p95_seconds", pa.float64()),
    ]
)
ENDS_SCHEMA = pa.schema([("activity", pa.string()), ("cases", pa.int64())])
VARIANTS_SCHEMA = pa.schema(
    [
        ("variant", pa.string()),
        ("cases", pa.int64()),
        ("share", pa.float64()),
        ("activities", pa.list_(pa.string())),
    ]
)


@dataclass
class ProcessMap:
    """A directly-follows graph with durations, its start and end activities, and variants.

    ``dfg`` has columns ``source, target, frequency, mean_seconds, median_seconds,
    p95_seconds``; ``starts`` and ``ends`` have ``activity, cases``; ``variants`` has
    ``variant, cases, share`` (activities joined by `` > ``) and ``activities`` (a list).
    """

    dfg: pa.Table
    starts: pa.Table
    ends: pa.Table
    variants: pa.Table
    cases: int
    events: int
    skipped: int = 0  # rows of a log file left out for lacking a case, activity or time


def discover(
    engine: Engine,
    log: str,
    *,
    graph: bool = True,
    variants: bool = True,
    keep: bool = False,
    in_memory_rows: int | None = None,
) -> ProcessMap:
    """The process map of the log staged as table ``log``; without ``graph`` the graph,
    start and end activities are left empty, without ``variants`` the variants.

    ``in_memory_rows`` overrides :data:`IN_MEMORY_ROWS` (0: always in the engine);
    ``keep`` keeps the engine's intermediate tables when the log is processed there.
    """
    limit = IN_MEMORY_ROWS if in_memory_rows is None else in_memory_rows
    if engine.count(log) <= limit:
        ordered = read_ordered(engine, log)
        if ordered is not None:
            return map_of(ordered, with_graph=graph, with_variants=variants)
    return _in_engine(engine, log, graph=graph, variants=variants, keep=keep)


def read_ordered(engine: Engine, log: str) -> _ordered.Ordered | None:
    """The staged log read back and sorted by case, time and tie-break (None when a
    value is missing: the SQL decides what that means)."""
    table = engine.to_arrow(
        engine.sql(f"SELECT case_id, activity, epoch_us(ts) AS us, ord FROM {log}")
    )
    return _ordered.order(table)


def map_of(
    log: _ordered.Ordered, *, with_graph: bool = True, with_variants: bool = True
) -> ProcessMap:
    """The process map of a sorted log held in memory."""
    names = log.names.cast(pa.string())
    if with_graph:
        g = _ordered.graph(log)
        dfg = pa.table(
            {
                "source": names.take(pa.array(g.source)),
                "target": names.take(pa.array(g.target)),
                "frequency": g.frequency,
                "mean_seconds": g.mean_us / 1e6,
                "median_seconds": g.median_us / 1e6,
                "p95_seconds": g.p95_us / 1e6,
            },
            schema=DFG_SCHEMA,
        ).sort_by([("frequency", "descending"), ("source", "ascending"), ("target", "ascending")])
        starts, ends = (_ends(names, counts) for counts in (g.starts, g.ends))
    else:
        dfg, starts, ends = (
            DFG_SCHEMA.empty_table(),
            ENDS_SCHEMA.empty_table(),
            ENDS_SCHEMA.empty_table(),
        )
    return ProcessMap(
        dfg=dfg,
        starts=starts,
        ends=ends,
        variants=variants_of(log) if with_variants else VARIANTS_SCHEMA.empty_table(),
        cases=len(log.first),
        events=len(log.codes),
    )


def _ends(names: pa.Array, counts: np.ndarray) -> pa.Table:
    seen = np.flatnonzero(counts)
    table = pa.table(
        {"activity": names.take(pa.array(seen)), "cases": counts[seen]}, schema=ENDS_SCHEMA
    )
    return table.sort_by([("cases", "descending"), ("activity", "ascending")])


def variants_of(log: _ordered.Ordered) -> pa.Table:
    """The variants of a sorted log held in memory, most cases first, then by name."""
    rep, cases = _ordered.variants(log)
    order = _ordered.by_cases_and_name(log, rep, cases, VARIANT_SEPARATOR)
    rep, cases = rep[order], cases[order]
    activities, variant = _ordered.activities(log, rep, VARIANT_SEPARATOR)
    return pa.table(
        {
            "variant": variant,
            "cases": cases,
            "share": cases / max(len(log.first), 1),
            "activities": activities,
        },
        schema=VARIANTS_SCHEMA,
    )


def _in_engine(engine: Engine, log: str, *, graph: bool, variants: bool, keep: bool) -> ProcessMap:
    # Activities become small integer codes first: windows, groupings and variant lists
    # over integers are several times cheaper than over strings. Durations are whole
    # microseconds (exact integers) until the final division.
    engine.stage(
        _CODES,
        f"""
        SELECT activity, CAST(row_number() OVER (ORDER BY activity) AS INTEGER) AS code
        FROM (SELECT DISTINCT activity FROM {log})
        """,
    )
    engine.stage(
        _STEPS,
        f"""
        SELECT case_id, code, us,
               LEAD(code) OVER (PARTITION BY case_id ORDER BY us, ord) AS next_code,
               (LEAD(us) OVER (PARTITION BY case_id ORDER BY us, ord)) - us AS gap_us,
               row_number() OVER (PARTITION BY case_id ORDER BY us, ord) AS pos
        FROM (SELECT l.case_id, c.code, epoch_us(l.ts) AS us, l.ord
              FROM {log} l JOIN {_CODES} c ON l.activity = c.activity)
        """,
    )
    try:
        return _from_steps(engine, log, graph, variants)
    finally:
        if not keep:
            engine.drop_temp(_STEPS)
            engine.drop_temp(_CODES)


def _from_steps(engine: Engine, log: str, with_graph: bool, with_variants: bool) -> ProcessMap:
    if not with_graph:
        cases = engine.count(engine.sql(f"SELECT 1 FROM {_STEPS} WHERE pos = 1"))
        return ProcessMap(
            dfg=DFG_SCHEMA.empty_table(),
            starts=ENDS_SCHEMA.empty_table(),
            ends=ENDS_SCHEMA.empty_table(),
            variants=_variants(engine, cases) if with_variants else VARIANTS_SCHEMA.empty_table(),
            cases=cases,
            events=engine.count(log),
        )
    dfg = engine.to_arrow(
        engine.sql(
            f"""
            SELECT s.activity AS source, t.activity AS target, d.frequency,
                   d.mean_us / 1e6 AS mean_seconds,
                   d.q[1] / 1e6 AS median_seconds, d.q[2] / 1e6 AS p95_seconds
            FROM (
                SELECT code, next_code, count(*) AS frequency,
                       -- the mean of whole microseconds, summed exactly
                       avg(gap_us) AS mean_us,
                       quantile_cont(gap_us, [0.5, 0.95]) AS q
                FROM {_STEPS} WHERE next_code IS NOT NULL
                GROUP BY code, next_code
            ) d
            JOIN {_CODES} s ON s.code = d.code
            JOIN {_CODES} t ON t.code = d.next_code
            ORDER BY frequency DESC, source, target
            """
        )
    ).cast(DFG_SCHEMA)
    starts, ends = (
        engine.to_arrow(
            engine.sql(
                f"""
                SELECT c.activity, count(*) AS cases
                FROM {_STEPS} s JOIN {_CODES} c ON c.code = s.code WHERE {cond}
                GROUP BY c.activity ORDER BY cases DESC, c.activity
                """
            )
        ).cast(ENDS_SCHEMA)
        for cond in ("s.pos = 1", "s.next_code IS NULL")
    )
    cases = sum(starts.column("cases").to_pylist())
    events = engine.count(log)
    variants = _variants(engine, cases) if with_variants else VARIANTS_SCHEMA.empty_table()
    return ProcessMap(
        dfg=dfg, starts=starts, ends=ends, variants=variants, cases=cases, events=events
    )


def _variants(engine: Engine, cases: int) -> pa.Table:
    """Variants from the staged steps (needs the codes and steps tables)."""
    # Grouped on the list of codes, so activity names holding the separator cannot collide;
    # names are put back only once per variant. Each step is packed as pos * m + code, so
    # sorting a case's small list restores its order: several times cheaper than an
    # ordered aggregate. (pos and m both stay below 2^31, so the product fits a BIGINT.)
    m = engine.count(_CODES) + 1
    out = engine.to_arrow(
        engine.sql(
            f"""
            WITH v AS (
                SELECT codes, count(*) AS cases FROM (
                    SELECT list_transform(
                               list_sort(list(CAST(pos AS BIGINT) * {m} + code)),
                               x -> CAST(x % {m} AS INTEGER)) AS codes
                    FROM {_STEPS} GROUP BY case_id
                ) GROUP BY codes
            ),
            names AS (SELECT list(activity ORDER BY code) AS names FROM {_CODES})
            SELECT array_to_string(acts, '{VARIANT_SEPARATOR}') AS variant, cases,
                   cases / {max(cases, 1)}.0 AS share, acts AS activities
            FROM (SELECT list_transform(codes, x -> names[x]) AS acts, cases FROM v, names)
            ORDER BY cases DESC, variant
            """
        )
    )
    return out.cast(VARIANTS_SCHEMA)
