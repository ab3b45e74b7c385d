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
from joinedup.journeys._sql import seconds_between

_STEPS = "_jn_steps"
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
    engine.stage(
        _STEPS,
        f"""
        SELECT case_id, activity, ts,
               LEAD(activity) OVER w AS next_activity,
               LEAD(ts) OVER w AS next_ts,
               LEAD(ord) OVER w IS NOT NULL AS has_next,
               LAG(ord) OVER w IS NULL AS is_first
        FROM {log}
        WINDOW w AS (PARTITION BY case_id ORDER BY ts, ord)
        """,
    )
    try:
        return _from_steps(engine, log, variants)
    finally:
        if not keep:
            engine.drop_temp(_STEPS)


def _from_steps(engine: Engine, log: str, with_variants: bool) -> ProcessMap:
    secs = seconds_between("ts", "next_ts")
    dfg = engine.to_arrow(
        engine.sql(
            f"""
            SELECT activity AS source, next_activity AS target,
                   count(*) AS frequency,
                   -- the mean of whole microseconds, summed exactly, then in seconds
                   avg(date_diff('microsecond', ts, next_ts)) / 1e6 AS mean_seconds,
                   quantile_cont({secs}, 0.5) AS median_seconds,
                   quantile_cont({secs}, 0.95) AS p95_seconds
            FROM {_STEPS} WHERE has_next
            GROUP BY activity, next_activity
            ORDER BY frequency DESC, source, target
            """
        )
    )
    starts = engine.to_arrow(
        engine.sql(
            f"""
            SELECT activity, count(*) AS cases FROM {_STEPS} WHERE is_first
            GROUP BY activity ORDER BY cases DESC, activity
            """
        )
    )
    ends = engine.to_arrow(
        engine.sql(
            f"""
            SELECT activity, count(*) AS cases FROM {_STEPS} WHERE NOT has_next
            GROUP BY activity ORDER BY cases DESC, activity
            """
        )
    )
    cases = sum(starts.column("cases").to_pylist())
    events = engine.count(log)
    variants = (
        _variants(engine, log, cases)
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


def _variants(engine: Engine, log: str, cases: int) -> pa.Table:
    # Grouped on the list itself, so activity names holding the separator cannot collide.
    out = engine.to_arrow(
        engine.sql(
            f"""
            SELECT array_to_string(activities, '{VARIANT_SEPARATOR}') AS variant,
                   count(*) AS cases,
                   count(*) / {max(cases, 1)}.0 AS share,
                   activities
            FROM (
                SELECT case_id, list(activity ORDER BY ts, ord) AS activities
                FROM {log} GROUP BY case_id
            )
            GROUP BY activities
            ORDER BY cases DESC, variant
            """
        )
    )
    return out.cast(VARIANTS_SCHEMA)
