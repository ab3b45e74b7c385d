"""Service shape: transactional, high-variety or complex, from measured variety.

A *transactional* service meets most needs along a few well-worn paths at one
organisation; a *high-variety* one meets them along many different paths; a *complex* one
needs several organisations per need, or serves people who have many needs at once. The
thresholds are :class:`ShapeSettings`; how they are used is in ``docs/journeys.md``.
"""

from __future__ import annotations

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.journeys._map import stage_workspace_log
from joinedup.journeys._settings import ShapeSettings

SHAPE_SCHEMA = pa.schema(
    [
        ("service", pa.string()),
        ("episodes", pa.int64()),
        ("variants", pa.int64()),
        ("entropy_bits", pa.float64()),
        ("tail_share", pa.float64()),
        ("orgs_per_need", pa.float64()),
        ("needs_per_person", pa.float64()),
        ("shape", pa.string()),
    ]
)


def service_shapes(engine: Engine, settings: ShapeSettings) -> pa.Table:
    """One row per service (the episodes' need type) with its measures and shape."""
    log = stage_workspace_log(engine, by="activity")
    s = settings
    try:
        table = engine.to_arrow(
            engine.sql(
                f"""
                WITH traces AS (
                    SELECT case_id, list(activity ORDER BY ts, ord) AS trace
                    FROM {log} GROUP BY case_id
                ),
                per_variant AS (
                    SELECT ep.need_type AS service, t.trace, count(*) AS n
                    FROM traces t JOIN episodes ep ON ep.episode_id = t.case_id
                    GROUP BY ALL
                ),
                ranked AS (
                    SELECT *, n / sum(n) OVER (PARTITION BY service) AS p,
                           row_number() OVER (PARTITION BY service ORDER BY n DESC, trace)
                               AS r
                    FROM per_variant
                ),
                variety AS (
                    SELECT service, count(*) AS variants,
                           -sum(p * log2(p)) AS entropy_bits,
                           1 - coalesce(sum(p) FILTER (WHERE r <= {s.top_variants}), 0)
                               AS tail_share
                    FROM ranked GROUP BY service
                ),
                per_person AS (
                    SELECT person_id, count(*) AS needs FROM episodes GROUP BY person_id
                ),
                users AS (
                    SELECT u.service, avg(pp.needs) AS needs_per_person
                    FROM (SELECT DISTINCT need_type AS service, person_id FROM episodes) u
                    JOIN per_person pp ON pp.person_id = u.person_id
                    GROUP BY u.service
                ),
                reach AS (
                    SELECT ep.need_type AS service, count(*) AS episodes,
                           avg(len(ep.orgs)) AS orgs_per_need,
                           any_value(us.needs_per_person) AS needs_per_person
                    FROM episodes ep JOIN users us ON us.service = ep.need_type
                    GROUP BY ep.need_type
                )
                SELECT r.service, r.episodes, v.variants,
                       v.entropy_bits + 0.0 AS entropy_bits, v.tail_share + 0.0 AS tail_share,
                       r.orgs_per_need, r.needs_per_person,
                       CASE
                         WHEN r.episodes < {s.min_cases} THEN 'too few'
                         WHEN r.orgs_per_need >= {s.complex_orgs_per_need}
                           OR r.needs_per_person >= {s.complex_needs_per_person} THEN 'complex'
                         WHEN v.entropy_bits >= {s.variety_entropy_bits}
                           OR v.tail_share >= {s.variety_tail_share} THEN 'high-variety'
                         ELSE 'transactional'
                       END AS shape
                FROM reach r JOIN variety v ON v.service = r.service
                ORDER BY r.episodes DESC, r.service
                """
            )
        )
    finally:
        engine.drop_temp(log)
    return table.cast(SHAPE_SCHEMA)
