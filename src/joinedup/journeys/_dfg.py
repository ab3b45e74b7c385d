"""Directly-follows graphs, start and end activities and variants, in SQL.

Works on any log staged as ``(case_id, activity, ts, ord)``: ``ord`` breaks ties between
events of one case with equal timestamps (a file's row order, or an episode's position).
Each case is ordered by ``ts`` then ``ord``; ``LEAD`` over that order gives each event's
successor, so nothing is sorted or held in Python and the engine can spill to disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from joinedup.engine import Engine

_STEPS, _CODES = "_jn_steps", "_jn_codes"
VARIANT_SEPARATOR = " > "


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


def discover(engine: Engine, log: str, *, variants: bool = True, keep: bool = False) -> ProcessMap:
    """The process map of the log staged as table ``log``."""
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
        return _from_steps(engine, log, variants)
    finally:
        if not keep:
            engine.drop_temp(_STEPS)
            engine.drop_temp(_CODES)


def _from_steps(engine: Engine, log: str, with_variants: bool) -> ProcessMap:
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
    )
    starts, ends = (
        engine.to_arrow(
            engine.sql(
                f"""
                SELECT c.activity, count(*) AS cases
                FROM {_STEPS} s JOIN {_CODES} c ON c.code = s.code WHERE {cond}
                GROUP BY c.activity ORDER BY cases DESC, c.activity
                """
            )
        )
        for cond in ("s.pos = 1", "s.next_code IS NULL")
    )
    cases = sum(starts.column("cases").to_pylist())
    events = engine.count(log)
    variants = (
        _variants(engine, cases)
        if with_variants
        else pa.table(
            {"variant": [], "cases": [], "share": [], "activities": []},
            schema=VARIANTS_SCHEMA,
        )
    )
    return ProcessMap(
        dfg=dfg, starts=starts, ends=ends, variants=variants, cases=cases, events=events
    )


VARIANTS_SCHEMA = pa.schema(
    [
        ("variant", pa.string()),
        ("cases", pa.int64()),
        ("share", pa.float64()),
        ("activities", pa.list_(pa.string())),
    ]
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
