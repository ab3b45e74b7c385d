"""Service shape: transactional, high-variety or complex, from measured variety.

A *transactional* service meets most needs along a few well-worn paths at one
organisation; a *high-variety* one meets them along many different paths; a *complex* one
needs several organisations per need, or serves people who have many needs at once. The
thresholds are :class:`ShapeSettings`; how they are used is in ``docs/journeys.md``.
"""

from __future__ import annotations

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.journeys._map import numbered_labels, require_episodes
from joinedup.journeys._settings import ShapeSettings

SHAPE_SCHEMA = pa.schema(
    [
        ("service", pa.string()),
        ("episodes", pa.int64()),
        ("variants", pa.int64()),
        ("entropy_bits", pa.float64()),
        ("entropy_ratio", pa.float64()),
        ("tail_share", pa.float64()),
        ("orgs_per_need", pa.float64()),
        ("concurrent_needs", pa.float64()),
        ("needs_per_person", pa.float64()),
        ("shape", pa.string()),
    ]
)


_CONTACT = "coalesce(e.direction, 'in') = 'in'"
# A label's number is below 2^32 and a position (INTEGER) below 2^31, so a packed
# contact fits a BIGINT.
_PACK = 4_294_967_296


def service_shapes(engine: Engine, settings: ShapeSettings) -> pa.Table:
    """One row per service (the episodes' need type) with its measures and shape."""
    require_episodes(engine)
    s = settings
    table = engine.to_arrow(
        engine.sql(
            f"""
                -- Each episode's trace is its contacts' labels in the episode's own order
                -- (time, then event id), which is the events' position. Each distinct
                -- label is numbered, and each contact packed with its position into one
                -- integer (position * 2^32 + code): sorting the episode's integers puts
                -- the contacts in order, and the remainder gives back the codes. The same
                -- variants as lists of labels, without an ordered aggregate or strings.
                WITH labels AS ({numbered_labels(_CONTACT)}),
                traces AS (
                    SELECT ee.episode_id AS case_id, list_transform(
                               list_sort(list(CAST(ee.position AS BIGINT) * {_PACK} + l.code)),
                               x -> x % {_PACK}
                           ) AS trace
                    FROM episode_events ee
                    JOIN events e ON e.event_id = ee.event_id
                    JOIN labels l
                      ON l.org = e.org AND l.activity IS NOT DISTINCT FROM e.activity
                    WHERE {_CONTACT}
                    GROUP BY ee.episode_id
                ),
                per_variant AS (
                    -- an episode with no contact (only the organisation's own actions)
                    -- counts as one empty variant
                    SELECT ep.need_type AS service, coalesce(t.trace, []) AS trace,
                           count(*) AS n
                    FROM episodes ep LEFT JOIN traces t ON ep.episode_id = t.case_id
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
                           -sum(p * log2(p)) + 0.0 AS entropy_bits,
                           1 - coalesce(sum(p) FILTER (WHERE r <= {s.top_variants}), 0) + 0.0
                               AS tail_share
                    FROM ranked GROUP BY service
                ),
                concurrent AS (
                    SELECT a.episode_id, count(*) AS open_needs
                    FROM episodes a JOIN episodes b
                      ON a.person_id = b.person_id
                     AND b.started_at <= coalesce(a.ended_at, a.started_at)
                     AND coalesce(b.ended_at, b.started_at) >= a.started_at
                    GROUP BY a.episode_id
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
                           avg(array_length(ep.orgs)) AS orgs_per_need,
                           avg(c.open_needs) AS concurrent_needs
                    FROM episodes ep JOIN concurrent c ON c.episode_id = ep.episode_id
                    GROUP BY ep.need_type
                )
                SELECT r.service, r.episodes, v.variants, v.entropy_bits,
                       CASE WHEN r.episodes > 1 THEN v.entropy_bits / log2(r.episodes)
                            ELSE 0.0 END AS entropy_ratio,
                       v.tail_share, r.orgs_per_need, r.concurrent_needs,
                       u.needs_per_person,
                       CASE
                         WHEN r.episodes < {s.min_cases} THEN 'too few'
                         WHEN r.orgs_per_need >= {s.complex_orgs_per_need}
                           OR r.concurrent_needs >= {s.complex_concurrent_needs}
                           THEN 'complex'
                         WHEN v.tail_share >= {s.variety_tail_share}
                           OR v.entropy_bits / log2(r.episodes) >= {s.variety_entropy}
                           THEN 'high-variety'
                         ELSE 'transactional'
                       END AS shape
                FROM reach r
                JOIN variety v ON v.service = r.service
                JOIN users u ON u.service = r.service
                ORDER BY r.episodes DESC, r.service
                """
        )
    )
    return table.cast(SHAPE_SCHEMA)
