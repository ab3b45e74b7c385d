"""Need episodes: a linked person's events grouped into the needs they served.

The method, and why, is in ``docs/methods/episodes.md``. In short:

1. every event of a linked person falls into a *unit*: its organisation's case (the
   ``case_ref``), or, for events without one, a run of events at one organisation and
   service with no gap longer than the quiet period;
2. a unit on which the organisation recorded an action of its own (``direction = 'out'``)
   *anchors* a need episode: the organisation worked it as a need;
3. a unit of contacts only (a misrouted call, a knock-on query at another organisation)
   joins the nearest anchor of the same person within ``attach_days``, preferring an
   anchor at another organisation; with none in reach it is an episode of its own.

Every event of a linked person lands in exactly one episode, by construction: each event
has one unit and each unit one episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.journeys._settings import EpisodeSettings
from joinedup.journeys._sql import in_list, seconds_between
from joinedup.model import EPISODE_EVENTS, EPISODES

# Names of the explicit intermediate tables, dropped at the end unless kept for debugging.
_EV, _UNITS, _HOME, _ASSIGNED = "_jn_events", "_jn_units", "_jn_home", "_jn_assigned"
_NAMES, _NAMED, _SERVED = "_jn_org_names", "_jn_named", "_jn_served"


@dataclass
class EpisodeResult:
    """What one episode build did."""

    events: int  # events in the workspace
    linked_events: int  # events of a person with a link, all placed in an episode
    episodes: int
    people: int
    met: int
    abandoned: int
    open: int


def build_episodes(
    engine: Engine, settings: EpisodeSettings, *, keep: bool = False
) -> EpisodeResult:
    """Group events into episodes and (re)write the ``episodes`` and ``episode_events``
    tables; ``keep`` leaves the intermediate tables for inspection."""
    quiet = settings.quiet_days * 86_400
    attach = settings.attach_days * 86_400
    # 1. linked events, with the unit each falls in.
    engine.stage(
        _EV,
        f"""
        WITH linked AS (
            SELECT e.event_id, e.org, e.service, e.channel, e.occurred_at, e.activity,
                   e.direction, e.case_ref, e.outcome, e.note, l.person_id
            FROM events e
            JOIN links l ON e.org = l.org AND e.local_person_ref = l.local_person_ref
        ),
        loose AS (
            SELECT *, CASE WHEN prev IS NULL OR {seconds_between("prev", "occurred_at")} > {quiet}
                           THEN 1 ELSE 0 END AS cut
            FROM (
                SELECT *, LAG(occurred_at) OVER (
                    PARTITION BY person_id, org, service ORDER BY occurred_at, event_id
                ) AS prev
                FROM linked WHERE case_ref IS NULL
            )
        )
        SELECT event_id, org, service, channel, occurred_at, activity, direction, outcome,
               note, person_id, 'case:' || case_ref AS unit
        FROM linked WHERE case_ref IS NOT NULL
        UNION ALL
        SELECT event_id, org, service, channel, occurred_at, activity, direction, outcome,
               note, person_id,
               'run:' || coalesce(service, '') || ':' || CAST(SUM(cut) OVER (
                   PARTITION BY person_id, org, service ORDER BY occurred_at, event_id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS VARCHAR) AS unit
        FROM loose
        """,
    )
    # 2. units, with whether the organisation acted on them.
    engine.stage(
        _UNITS,
        f"""
        SELECT person_id, org, unit,
               min(occurred_at) AS first_at, max(occurred_at) AS last_at,
               count(*) FILTER (WHERE direction = 'out') AS actions,
               arg_min(service, occurred_at) AS service
        FROM {_EV} GROUP BY person_id, org, unit
        """,
    )
    # 3. which other organisations the notes of a contact-only unit name.
    names = [(org, n.lower()) for org, ns in settings.org_names.items() for n in ns if n.strip()]
    engine.register(
        _NAMES,
        pa.table(
            {"named_org": [o for o, _ in names], "phrase": [n for _, n in names]},
            schema=pa.schema([("named_org", pa.string()), ("phrase", pa.string())]),
        ),
    )
    engine.stage(
        _NAMED,
        f"""
        SELECT DISTINCT e.person_id, e.org, e.unit, n.named_org
        FROM {_EV} e
        JOIN {_UNITS} u ON e.person_id = u.person_id AND e.org = u.org AND e.unit = u.unit
        JOIN {_NAMES} n ON n.named_org <> e.org AND contains(lower(e.note), n.phrase)
        WHERE u.actions = 0 AND e.note IS NOT NULL
        """,
    )
    # 3b. which of the person's needs a contact-only unit's notes name by their service.
    if settings.match_services:
        engine.stage(
            _SERVED,
            f"""
            SELECT DISTINCT e.person_id, e.org, e.unit, a.org AS a_org, a.unit AS a_unit
            FROM {_EV} e
            JOIN {_UNITS} u ON e.person_id = u.person_id AND e.org = u.org AND e.unit = u.unit
            JOIN {_UNITS} a ON a.person_id = e.person_id AND a.actions > 0
            WHERE u.actions = 0 AND e.note IS NOT NULL AND a.service IS NOT NULL
              AND length(a.service) >= 4 AND contains(lower(e.note), lower(a.service))
            """,
        )
    else:
        engine.stage(
            _SERVED,
            f"SELECT person_id, org, unit, org AS a_org, unit AS a_unit FROM {_UNITS} WHERE false",
        )
    # 4. the home (anchor) unit of every unit.
    same_org_last = (
        "CASE WHEN a.org = s.org THEN 1 ELSE 0 END, " if settings.prefer_other_org else ""
    )
    gap = (
        f"greatest({seconds_between('s.last_at', 'a.first_at')}, "
        f"{seconds_between('a.last_at', 's.first_at')}, 0)"
    )
    engine.stage(
        _HOME,
        f"""
        SELECT person_id, org, unit, home_org, home_unit FROM (
            SELECT s.person_id, s.org, s.unit, a.org AS home_org, a.unit AS home_unit,
                   row_number() OVER (
                       PARTITION BY s.person_id, s.org, s.unit
                       ORDER BY CASE WHEN n.named_org IS NULL THEN 1 ELSE 0 END,
                                CASE WHEN v.a_unit IS NULL THEN 1 ELSE 0 END,
                                {same_org_last}{gap}, a.first_at, a.org, a.unit
                   ) AS rank
            FROM {_UNITS} s JOIN {_UNITS} a
              ON s.person_id = a.person_id AND a.actions > 0
              AND NOT (a.org = s.org AND a.unit = s.unit)
            LEFT JOIN {_NAMED} n
              ON n.person_id = s.person_id AND n.org = s.org AND n.unit = s.unit
              AND n.named_org = a.org
            LEFT JOIN {_SERVED} v
              ON v.person_id = s.person_id AND v.org = s.org AND v.unit = s.unit
              AND v.a_org = a.org AND v.a_unit = a.unit
            WHERE s.actions = 0 AND {gap} <= {attach}
        ) WHERE rank = 1
        UNION ALL
        SELECT person_id, org, unit, org AS home_org, unit AS home_unit
        FROM {_UNITS} WHERE actions > 0
        """,
    )
    # 5. each event's episode and its position in it.
    engine.stage(
        _ASSIGNED,
        f"""
        SELECT e.*, 'ep-' || substr(md5(e.person_id || '|' || coalesce(h.home_org, e.org) || '|'
                                       || coalesce(h.home_unit, e.unit)), 1, 20) AS episode_id,
               coalesce(h.home_org, e.org) AS home_org,
               coalesce(h.home_unit, e.unit) AS home_unit
        FROM {_EV} e LEFT JOIN {_HOME} h
          ON e.person_id = h.person_id AND e.org = h.org AND e.unit = h.unit
        """,
    )
    for name, schema in (("episode_events", EPISODE_EVENTS), ("episodes", EPISODES)):
        # Recreated from the model, so a workspace made before a column was added gains it.
        engine.create_table(name, schema, overwrite=True)
    engine.write(
        "episode_events",
        engine.sql(
            f"""
            SELECT event_id, episode_id, person_id,
                   CAST(row_number() OVER (PARTITION BY episode_id ORDER BY occurred_at, event_id)
                        AS INTEGER) AS position
            FROM {_ASSIGNED}
            """
        ).select(*EPISODE_EVENTS.names),
    )
    met = (
        f"(outcome IN {in_list(settings.met_outcomes)} "
        f"OR activity IN {in_list(settings.met_activities)})"
    )
    engine.write(
        "episodes",
        engine.sql(
            f"""
            WITH contacts AS (
                SELECT episode_id, org,
                       LAG(org) OVER (PARTITION BY episode_id ORDER BY occurred_at, event_id)
                           AS prev_org
                FROM {_ASSIGNED} WHERE coalesce(direction, 'in') = 'in'
            ),
            handoffs AS (
                SELECT episode_id, count(*) FILTER (WHERE org <> prev_org) AS handoffs,
                       count(*) AS contacts
                FROM contacts GROUP BY episode_id
            ),
            data_end AS (SELECT max(occurred_at) AS data_end FROM events),
            ep AS (
                SELECT a.episode_id, any_value(a.person_id) AS person_id,
                       any_value(u.service) AS need_type, any_value(a.home_org) AS need_org,
                       min(a.occurred_at) AS started_at, max(a.occurred_at) AS last_at,
                       bool_or({met}) AS met,
                       list(DISTINCT a.org ORDER BY a.org) AS orgs,
                       list(DISTINCT a.channel ORDER BY a.channel)
                           FILTER (WHERE coalesce(a.direction, 'in') = 'in'
                                   AND a.channel IS NOT NULL) AS channels
                FROM {_ASSIGNED} a
                JOIN {_UNITS} u ON a.person_id = u.person_id AND a.home_org = u.org
                              AND a.home_unit = u.unit
                GROUP BY a.episode_id
            ),
            ended AS (
                SELECT ep.*, CASE WHEN met THEN 'met'
                     WHEN {seconds_between("last_at", "data_end")} >= {quiet} THEN 'abandoned'
                     ELSE 'open' END AS end_reason
                FROM ep, data_end
            )
            SELECT e.episode_id, e.person_id, e.need_type, e.started_at,
                   CASE WHEN end_reason = 'open' THEN NULL ELSE last_at END AS ended_at,
                   e.end_reason, e.orgs, coalesce(e.channels, []) AS channels,
                   CAST(coalesce(h.contacts, 0) AS INTEGER) AS contacts,
                   CAST(coalesce(h.handoffs, 0) AS INTEGER) AS handoffs,
                   CASE WHEN end_reason = 'open' THEN NULL
                        ELSE {seconds_between("started_at", "last_at")} END AS elapsed_seconds,
                   e.need_org
            FROM ended e LEFT JOIN handoffs h ON e.episode_id = h.episode_id
            """
        ).select(*EPISODES.names),
    )
    counts = engine.to_arrow(
        engine.sql(
            """
            SELECT count(*) AS episodes, count(DISTINCT person_id) AS people,
                   count(*) FILTER (WHERE end_reason = 'met') AS met,
                   count(*) FILTER (WHERE end_reason = 'abandoned') AS abandoned,
                   count(*) FILTER (WHERE end_reason = 'open') AS open
            FROM episodes
            """
        )
    ).to_pylist()[0]
    result = EpisodeResult(events=engine.count("events"), linked_events=engine.count(_EV), **counts)
    if not keep:
        for name in (_ASSIGNED, _HOME, _SERVED, _NAMED, _NAMES, _UNITS, _EV):
            engine.drop_temp(name)
    return result
